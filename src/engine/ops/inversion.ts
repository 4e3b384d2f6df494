// Ops of the inversion loop: jitter crop (offset drawn on the GPU each iteration) and the
// colour-norm box constraint.
import { grid1d } from '../gpu.ts';
import type { Tape } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { colourNormBound, cropBackward, cropForward, jitterOffset } from '../../shaders/inversion.ts';

export interface CropOffset {
  /** 2 × u32: (dy, dx). */
  buffer: GPUBuffer;
}

/** Records the offset for this iteration: random in [0, amount)² from (seed, step), or fixed. */
export function cropOffset(tape: Tape, step: GPUBuffer, opts: { amount: number; seed: number } | { fixed: [number, number] }): CropOffset {
  const buffer = tape.scratch('crop offset', 16);
  const u = 'fixed' in opts
    ? { amount: 1, seed: 0, mode: 1, fixedY: opts.fixed[0], fixedX: opts.fixed[1], pad0: 0, pad1: 0, pad2: 0 }
    : { amount: opts.amount, seed: opts.seed >>> 0, mode: 0, fixedY: 0, fixedX: 0, pad0: 0, pad1: 0, pad2: 0 };
  tape.push(tape.gpu.dispatch(jitterOffset(), 'jitter offset', { step, offset: buffer }, u, [1, 1, 1]));
  return { buffer };
}

/** Crops [N, C, BH, BW] to [N, C, H, W] at the recorded offset. */
export function crop(tape: Tape, x: Tensor, H: number, W: number, offset: CropOffset, label = 'jitter crop'): Tensor {
  const [N, C, BH, BW] = x.shape;
  if (H > BH || W > BW) throw new Error(`${label}: cannot crop ${H}×${W} out of ${x}`);
  const y = tape.tensor([N, C, H, W], label, x.requiresGrad);
  const u = (count: number, accumulate: number) => ({ count, planes: N * C, H, W, BH, BW, accumulate, pad0: 0 });
  tape.push(tape.gpu.dispatch(cropForward(), `${label} forward ${x} → ${H}×${W}`, { x: x.buffer, offset: offset.buffer, y: y.buffer }, u(y.size, 0), grid1d(y.size)));
  tape.record({
    name: label, inputs: [x], output: y,
    backward: (t) => {
      const g = t.gradOf(x);
      t.push(t.gpu.dispatch(cropBackward(), `${label} backward`, { gradOutput: y.grad!.buffer, offset: offset.buffer, gradInput: g.tensor.buffer },
        u(x.size, g.accumulate), grid1d(x.size)));
    },
  });
  return y;
}

/** x ← x·min(bound/‖x_pixel‖, 1) in place (after the optimizer step). */
export function boundColourNorm(tape: Tape, x: Tensor, bound: number): void {
  const [N, C, H, W] = x.shape;
  const count = N * H * W;
  tape.push(tape.gpu.dispatch(colourNormBound(), `colour norm bound ${bound}`, { x: x.buffer },
    { count, C, HW: H * W, pad0: 0, bound, pad1: 0, pad2: 0, pad3: 0 }, grid1d(count)));
}
