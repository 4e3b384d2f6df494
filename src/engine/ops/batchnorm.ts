// Inference-mode BatchNorm2d with running statistics; gradients for input, gamma and beta.
import type { Tape } from '../tape.ts';
import { Tensor, assertRank, shapeStr } from '../tensor.ts';
import { grid1d } from '../gpu.ts';
import { BN_FLAT_BELOW, BN_ITEMS, BN_WORKGROUP, batchNorm2dBackwardInput, batchNorm2dForward, channelGradientSum } from '../../shaders/batchnorm.ts';

export interface BatchNormParams {
  gamma: Tensor; beta: Tensor; runningMean: Tensor; runningVar: Tensor;
  eps?: number;
}

export function batchNorm2d(tape: Tape, x: Tensor, p: BatchNormParams, label = 'batchnorm2d'): Tensor {
  assertRank(label, x, 4);
  const [N, C, H, W] = x.shape;
  for (const [name, t] of Object.entries({ gamma: p.gamma, beta: p.beta, runningMean: p.runningMean, runningVar: p.runningVar })) {
    if (t.rank !== 1 || t.shape[0] !== C) throw new Error(`${label}: ${name} ${t} does not match ${C} channels of ${x}`);
  }
  const eps = p.eps ?? 1e-5;
  const gpu = tape.gpu;
  const y = tape.tensor(x.shape, label, x.requiresGrad || p.gamma.requiresGrad || p.beta.requiresGrad);
  if (C > 65535 || N > 65535) throw new Error(`${label}: ${C} channels or batch ${N} exceed the 65535 workgroups per dimension`);
  const flat = H * W < BN_FLAT_BELOW;
  if (flat && C * H * W >= 1 << 24) throw new Error(`${label}: ${C * H * W} elements per sample exceed the flat kernel's 2^24 index range`);
  const [fx, fy] = grid1d(C * H * W);
  const planeGrid: [number, number, number] = flat ? [fx, fy, N] : [Math.ceil((H * W) / (BN_WORKGROUP * BN_ITEMS)), C, N];
  const u = (count: number, accumulate: number, mode = 0) => ({ count, C, HW: H * W, accumulate, eps, N, mode, pad0: 0 });
  tape.push(gpu.dispatch(batchNorm2dForward(flat), `${label} forward ${shapeStr(x.shape)}`,
    { x: x.buffer, gamma: p.gamma.buffer, beta: p.beta.buffer, mean: p.runningMean.buffer, variance: p.runningVar.buffer, y: y.buffer },
    u(x.size, 0), planeGrid));
  tape.record({
    name: label, inputs: [x, p.gamma, p.beta], output: y,
    backward: (t) => {
      const gy = y.grad!;
      if (x.requiresGrad) {
        const gx = t.gradOf(x);
        t.push(t.gpu.dispatch(batchNorm2dBackwardInput(flat), `${label} backward input ${shapeStr(x.shape)}`,
          { gradOutput: gy.buffer, gamma: p.gamma.buffer, variance: p.runningVar.buffer, gradInput: gx.tensor.buffer },
          u(x.size, gx.accumulate), planeGrid));
      }
      for (const [param, mode] of [[p.gamma, 1], [p.beta, 0]] as const) {
        if (!param.requiresGrad) continue;
        const gp = t.gradOf(param);
        t.push(t.gpu.dispatch(channelGradientSum(), `${label} backward ${mode ? 'gamma' : 'beta'} [${C}]`,
          { gradOutput: gy.buffer, x: x.buffer, mean: p.runningMean.buffer, variance: p.runningVar.buffer, out: gp.tensor.buffer },
          u(0, gp.accumulate, mode), [C, 1, 1]));
      }
    },
  });
  return y;
}
