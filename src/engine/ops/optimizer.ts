// The optimizer step as GPU kernels over persistent state (velocity, step counter), so an
// inversion iteration is replayable with no CPU work.
import { grid1d } from '../gpu.ts';
import type { Tape } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { advanceStep, sgdMomentumUpdate } from '../../shaders/optimizer.ts';

export type MomentumStyle = 'pytorch' | 'goggle' | 'adagrad';

export interface SgdSettings {
  /** Piecewise-constant learning rate: lr of segment k holds for iterations < until[k]; the last holds forever. */
  schedule: { until: number; lr: number }[];
  momentum: number;
  style?: MomentumStyle;
  /** Decay of the squared-gradient accumulator (style 'adagrad'; nnpreimage uses the momentum, 0.9). */
  rho?: number;
}

/** Persistent optimizer state for one parameter tensor; lives as long as the plan that uses it. */
export class SgdState {
  readonly velocity: GPUBuffer;
  readonly sqAccum: GPUBuffer;
  readonly step: GPUBuffer;
  readonly schedule: GPUBuffer;
  readonly settings: SgdSettings;
  private readonly buffers: GPUBuffer[];

  constructor(tape: Tape, param: Tensor, settings: SgdSettings) {
    const gpu = tape.gpu;
    if (!settings.schedule.length) throw new Error('sgd: empty learning-rate schedule');
    const zeros = (label: string, bytes: number) => {
      const b = gpu.createBuffer(label, bytes);
      gpu.device.queue.writeBuffer(b, 0, new Uint8Array(b.size));
      return b;
    };
    this.settings = settings;
    this.velocity = zeros(`${param.label} velocity`, param.bytes);
    this.sqAccum = settings.style === 'adagrad' ? zeros(`${param.label} squared-gradient sum`, param.bytes) : zeros('sgd unused accumulator', 16);
    this.step = zeros(`${param.label} step counter`, 16);
    const table = new Float32Array(settings.schedule.flatMap((s) => [s.until, s.lr]));
    this.schedule = gpu.upload(`${param.label} lr schedule`, table);
    this.buffers = [this.velocity, this.sqAccum, this.step, this.schedule];
  }

  /** Learning rate at iteration t, as the kernel computes it. */
  lrAt(t: number): number {
    const s = this.settings.schedule;
    for (let k = 0; k + 1 < s.length; k++) if (t < s[k].until) return s[k].lr;
    return s[s.length - 1].lr;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}

const STYLE_CODE: Record<MomentumStyle, number> = { pytorch: 0, goggle: 1, adagrad: 2 };

/** Records x ← update(x, ∇x) then step += 1. Needs the gradient of x from this tape's backward. */
export function sgdStep(tape: Tape, x: Tensor, state: SgdState): void {
  if (!x.grad || !tape.hasGrad(x)) throw new Error(`sgd: ${x} has no gradient on this tape (call backward first)`);
  const s = state.settings;
  tape.push(tape.gpu.dispatch(sgdMomentumUpdate(), `sgd update ${x}`,
    { grad: x.grad.buffer, x: x.buffer, velocity: state.velocity, sqAccum: state.sqAccum, step: state.step, schedule: state.schedule },
    { count: x.size, style: STYLE_CODE[s.style ?? 'pytorch'], segments: s.schedule.length, pad0: 0, momentum: s.momentum,
      rho: s.rho ?? 0.9, pad1: 0, pad2: 0 }, grid1d(x.size)));
  tape.push(tape.gpu.dispatch(advanceStep(), 'sgd advance step', { step: state.step }, {}, [1, 1, 1]));
}
