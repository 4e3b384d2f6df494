// Linear layer with the weight given as one tensor or as row chunks (each fits a storage binding).
import { grid1d } from '../gpu.ts';
import type { Tape } from '../tape.ts';
import { type Tensor, shapeStr } from '../tensor.ts';
import { LINEAR_BLOCK, LINEAR_FORWARD_WORKGROUP, linearBackwardInput, linearBackwardWeight, linearForward } from '../../shaders/linear.ts';
import { WORKGROUP_1D } from '../gpu.ts';

export interface LinearWeight {
  /** Row chunks of the [O][I] weight, in order. */
  chunks: Tensor[];
  /** Bias chunks aligned with the weight chunks, or null. */
  bias: Tensor[] | null;
}

export function linear(tape: Tape, x: Tensor, w: LinearWeight, label = 'linear'): Tensor {
  if (x.rank !== 2) throw new Error(`${label}: input must be [N, features], got ${x}`);
  const [N, I] = x.shape;
  let O = 0;
  for (const [k, c] of w.chunks.entries()) {
    if (c.rank !== 2 || c.shape[1] !== I) throw new Error(`${label}: weight chunk ${k} ${c} does not take ${I} input features`);
    if (w.bias && (w.bias[k].rank !== 1 || w.bias[k].shape[0] !== c.shape[0])) throw new Error(`${label}: bias chunk ${k} does not match ${c}`);
    O += c.shape[0];
  }
  const gpu = tape.gpu;
  const needsGrad = x.requiresGrad || w.chunks.some((c) => c.requiresGrad) || !!w.bias?.some((b) => b.requiresGrad);
  const y = tape.tensor([N, O], label, needsGrad);
  const offsets: number[] = [];
  let off = 0;
  for (const c of w.chunks) { offsets.push(off); off += c.shape[0]; }
  const u = (k: number, count: number, accumulate: number, hasBias: number) =>
    ({ count, N, I, O, rows: w.chunks[k].shape[0], rowOffset: offsets[k], hasBias, accumulate });
  w.chunks.forEach((c, k) => {
    const rows = c.shape[0];
    tape.push(gpu.dispatch(linearForward(), `${label} forward x${shapeStr(x.shape)} rows ${offsets[k]}..${offsets[k] + rows}`,
      { x: x.buffer, weight: c.buffer, bias: w.bias ? w.bias[k].buffer : c.buffer, y: y.buffer },
      u(k, N * Math.ceil(rows / LINEAR_BLOCK), 0, w.bias ? 1 : 0), grid1d(N * Math.ceil(rows / LINEAR_BLOCK), LINEAR_FORWARD_WORKGROUP)));
  });
  const bwdCount = N * Math.ceil(I / (WORKGROUP_1D * LINEAR_BLOCK)) * WORKGROUP_1D;
  const inputs = [x, ...w.chunks, ...(w.bias ?? [])];
  tape.record({
    name: label, inputs, output: y,
    backward: (t) => {
      const gy = y.grad!;
      w.chunks.forEach((c, k) => {
        if (x.requiresGrad) {
          const gx = t.gradOf(x);
          t.push(t.gpu.dispatch(linearBackwardInput(), `${label} backward input chunk ${k}`,
            { gradOutput: gy.buffer, weight: c.buffer, gradInput: gx.tensor.buffer }, u(k, bwdCount, gx.accumulate, 0), grid1d(bwdCount)));
        }
        if (c.requiresGrad) {
          const gw = t.gradOf(c);
          t.push(t.gpu.dispatch(linearBackwardWeight(), `${label} backward weight chunk ${k}`,
            { x: x.buffer, gradOutput: gy.buffer, gradWeight: gw.tensor.buffer }, u(k, c.size, gw.accumulate, 0), grid1d(c.size)));
        }
        const b = w.bias?.[k];
        if (b?.requiresGrad) {
          const gb = t.gradOf(b);
          t.push(t.gpu.dispatch(linearBackwardWeight(), `${label} backward bias chunk ${k}`,
            { x: x.buffer, gradOutput: gy.buffer, gradWeight: gb.tensor.buffer }, u(k, b.size, gb.accumulate, 1), grid1d(b.size)));
        }
      });
    },
  });
  return y;
}
