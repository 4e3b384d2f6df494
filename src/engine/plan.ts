// A plan is a recorded iteration (forward, loss, backward, optimizer update) over buffers
// that stay allocated; run() replays it: each iteration's dispatches are re-encoded (bind
// groups and uniforms were made once), several iterations share one submit, and the
// objective is copied back only at the iterations asked for, through a small ring of
// mappable buffers. Nothing is allocated per iteration.
import type { Tape } from './tape.ts';
import { type Objective, parseObjective } from './ops/losses.ts';

export interface Readback {
  /** 0-based iteration whose forward pass produced these values. */
  iteration: number;
  perSample: { total: number; terms: number[] }[];
}

export interface RunOptions {
  /** Read the objective every k iterations (and at the last one); 0 = only the last. */
  readEvery?: number;
  /** Iterations encoded into one command buffer per submit. */
  iterationsPerSubmit?: number;
  /** Called after each submit with the readbacks it produced. */
  onProgress?: (done: number, readbacks: Readback[]) => void;
}

export class Plan {
  readonly tape: Tape;
  readonly objective: Objective | null;
  /** Iterations replayed so far. */
  iteration = 0;
  private readonly ring: GPUBuffer[] = [];
  private readonly bytes: number;

  constructor(tape: Tape, objective: Objective | null) {
    this.tape = tape;
    this.objective = objective;
    this.bytes = objective ? objective.N * (objective.terms.length + 1) * 4 : 0;
  }

  private staging(): GPUBuffer {
    return this.ring.pop() ?? this.tape.gpu.device.createBuffer({
      label: `${this.tape.label} objective readback`, size: Math.max(16, Math.ceil(this.bytes / 16) * 16),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  async run(iterations: number, opts: RunOptions = {}): Promise<Readback[]> {
    const gpu = this.tape.gpu;
    const readEvery = opts.readEvery ?? 0;
    const perSubmit = Math.max(1, opts.iterationsPerSubmit ?? 10);
    const end = this.iteration + iterations;
    const all: Readback[] = [];
    while (this.iteration < end) {
      const enc = gpu.device.createCommandEncoder({ label: `${this.tape.label} iterations` });
      gpu.encodeSetup(enc);
      const pending: { iteration: number; buffer: GPUBuffer }[] = [];
      const start = this.iteration;
      const stop = Math.min(end, this.iteration + perSubmit);
      for (; this.iteration < stop; this.iteration++) {
        gpu.encode(enc, this.tape.commands);
        const i = this.iteration;
        if (this.objective && (i === end - 1 || (readEvery > 0 && i % readEvery === 0))) {
          const buffer = this.staging();
          enc.copyBufferToBuffer(this.objective.values, 0, buffer, 0, buffer.size);
          pending.push({ iteration: i, buffer });
        }
      }
      await gpu.submit([enc.finish()], `${this.tape.label} iterations ${start}..${stop - 1}`);
      const readbacks: Readback[] = [];
      for (const p of pending) {
        await p.buffer.mapAsync(GPUMapMode.READ);
        const v = new Float32Array(p.buffer.getMappedRange().slice(0, this.bytes));
        p.buffer.unmap();
        this.ring.push(p.buffer);
        readbacks.push({ iteration: p.iteration, perSample: parseObjective(v, this.objective!) });
      }
      all.push(...readbacks);
      opts.onProgress?.(this.iteration, readbacks);
    }
    return all;
  }

  destroy(): void {
    for (const b of this.ring) b.destroy();
    this.ring.length = 0;
  }
}
