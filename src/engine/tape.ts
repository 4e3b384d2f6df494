// Reverse-mode autodiff tape. Ops record GPU dispatches (forward) and a backward rule; the
// tape runs the rules in reverse, handing each one the gradient buffers to write or add to.
// Every dispatch is recorded, not run: the same command list runs once eagerly (run()) or is
// replayed as a Plan. Loss terms are fused ops that write value and weighted gradient in one
// pass, so the gradient of the objective enters the tape at the loss terms.
import { type Command, type Gpu } from './gpu.ts';
import { Tensor, numel, shapeStr } from './tensor.ts';

export interface TapeNode {
  name: string;
  inputs: readonly Tensor[];
  output: Tensor;
  /** Emits the gradient kernels for the inputs that require grad. */
  backward: (tape: Tape) => void;
}

export interface TapeOptions {
  /** Fill every new output and gradient with NaN first, so a kernel that skips an element is caught (tests). */
  poison?: boolean;
  label?: string;
}

/** Where a backward kernel writes an input gradient: overwrite (first contribution) or add. */
export interface GradTarget {
  tensor: Tensor;
  accumulate: 0 | 1;
}

export class Tape {
  readonly gpu: Gpu;
  readonly label: string;
  readonly commands: Command[] = [];
  private readonly nodes: TapeNode[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly gradStarted = new Set<Tensor>();
  private readonly poison: boolean;
  private executed = 0;
  private backwardDone = false;
  private disposed = false;

  constructor(gpu: Gpu, opts: TapeOptions = {}) {
    this.gpu = gpu;
    this.poison = opts.poison ?? false;
    this.label = opts.label ?? 'tape';
  }

  /** A new output tensor from the buffer pool, owned by this tape. */
  tensor(shape: readonly number[], label: string, requiresGrad = false): Tensor {
    this.assertOpen();
    const bytes = numel(shape) * 4;
    const buf = this.gpu.acquire(label, bytes);
    this.owned.push(buf);
    if (this.poison) this.gpu.device.queue.writeBuffer(buf, 0, new Float32Array(buf.size / 4).fill(NaN));
    return new Tensor(shape, buf, label, requiresGrad);
  }

  /** Uploads CPU data into a tensor owned by this tape. */
  constant(shape: readonly number[], data: Float32Array, label: string, requiresGrad = false): Tensor {
    if (data.length !== numel(shape)) throw new Error(`${label}: ${data.length} values for shape ${shapeStr(shape)}`);
    const t = this.tensor(shape, label, requiresGrad);
    this.gpu.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  /** A small buffer owned by this tape (non-f32 state, partial sums). */
  scratch(label: string, bytes: number): GPUBuffer {
    const buf = this.gpu.acquire(label, bytes);
    this.owned.push(buf);
    return buf;
  }

  /** Hands a tensor's buffer to the caller: dispose() will not release it (e.g. a target kept for a plan). */
  detach(t: Tensor): Tensor {
    const i = this.owned.indexOf(t.buffer);
    if (i < 0) throw new Error(`${t} is not owned by ${this.label}`);
    this.owned.splice(i, 1);
    return t;
  }

  push(c: Command): void {
    this.assertOpen();
    this.commands.push(c);
  }

  record(node: TapeNode): void {
    if (this.backwardDone) throw new Error(`${node.name}: cannot record ops after backward() on ${this.label}`);
    if (node.inputs.some((t) => t.requiresGrad)) this.nodes.push(node);
  }

  /** The gradient buffer of `t` for the next contribution, allocating it on first use. */
  gradOf(t: Tensor): GradTarget {
    if (!t.requiresGrad) throw new Error(`gradient requested for ${t}, which does not require grad`);
    // A gradient buffer belongs to the tape that first wrote it (a grad left by an earlier tape is replaced).
    if (!this.gradStarted.has(t)) {
      t.grad = this.tensor(t.shape, `grad ${t.label}`);
      this.gradStarted.add(t);
      return { tensor: t.grad, accumulate: 0 };
    }
    return { tensor: t.grad!, accumulate: 1 };
  }

  hasGrad(t: Tensor): boolean {
    return this.gradStarted.has(t);
  }

  /**
   * Runs the backward rules in reverse order. The loss terms (fused ops) have already seeded
   * the gradients of their inputs; a node whose output received no gradient is skipped.
   */
  backward(): void {
    if (this.backwardDone) throw new Error(`backward() called twice on ${this.label}`);
    if (this.gradStarted.size === 0) throw new Error(`backward() on ${this.label}: no loss term produced a gradient (does the input require grad?)`);
    this.backwardDone = true;
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (this.gradStarted.has(node.output)) node.backward(this);
    }
  }

  /** Runs the commands recorded since the last run. */
  async run(): Promise<void> {
    this.assertOpen();
    const pending = this.commands.slice(this.executed);
    this.executed = this.commands.length;
    await this.gpu.run(pending, this.label);
  }

  /** Runs pending work and reads a tensor back. */
  async read(t: Tensor): Promise<Float32Array> {
    await this.run();
    return new Float32Array(await this.gpu.readBuffer(t.buffer, t.bytes, t.toString()));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.owned) this.gpu.release(b);
    this.owned.length = 0;
    for (const t of this.gradStarted) t.grad = null;
  }

  private assertOpen(): void {
    if (this.disposed) throw new Error(`${this.label} was disposed`);
  }
}
