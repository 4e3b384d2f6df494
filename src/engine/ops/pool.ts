// maxpool2d (kernel, stride, padding, ceil_mode) and adaptive average pooling (any output size).
import { grid1d } from '../gpu.ts';
import type { Tape } from '../tape.ts';
import { type Tensor, assertRank, shapeStr } from '../tensor.ts';
import { adaptiveAvgPool2dBackward, adaptiveAvgPool2dForward, fillZero, maxPool2dBackward, maxPool2dForward } from '../../shaders/pool.ts';
import { ELEMENTWISE_ITEMS } from '../../shaders/common.ts';
import { WORKGROUP_1D } from '../gpu.ts';

export interface MaxPoolParams {
  kernel: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  ceilMode?: boolean;
}

/** grid1d over one sample's elements, the sample on workgroup_id.z (the pool kernels' index split). */
function sampleGrid(label: string, N: number, perSample: number): [number, number, number] {
  if (perSample >= 1 << 24) throw new Error(`${label}: ${perSample} elements per sample exceed the pool kernels' 2^24 index range`);
  if (N > 65535) throw new Error(`${label}: batch ${N} exceeds 65535`);
  const [x, y] = grid1d(perSample);
  return [x, y, N];
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** PyTorch's pooling output size, including its ceil_mode rule (the last window must start inside the input or left padding). */
export function poolOutputSize(size: number, k: number, s: number, p: number, ceil: boolean): number {
  const num = size + 2 * p - k;
  let out = Math.floor((ceil ? num + s - 1 : num) / s) + 1;
  if (ceil && (out - 1) * s >= size + p) out -= 1;
  return out;
}

export function maxPool2d(tape: Tape, x: Tensor, p: MaxPoolParams, label = 'maxpool2d'): Tensor {
  assertRank(label, x, 4);
  const [N, C, H, W] = x.shape;
  const [KH, KW] = pair(p.kernel);
  const [SH, SW] = pair(p.stride ?? p.kernel);
  const [PH, PW] = pair(p.padding ?? 0);
  if (PH * 2 > KH || PW * 2 > KW) throw new Error(`${label}: padding ${PH}×${PW} must be at most half the kernel ${KH}×${KW}`);
  const OH = poolOutputSize(H, KH, SH, PH, !!p.ceilMode);
  const OW = poolOutputSize(W, KW, SW, PW, !!p.ceilMode);
  if (OH < 1 || OW < 1) throw new Error(`${label}: input ${shapeStr(x.shape)} is too small for a ${KH}×${KW} window`);
  const gpu = tape.gpu;
  const y = tape.tensor([N, C, OH, OW], label, x.requiresGrad);
  const argmax = tape.scratch(`${label} argmax`, y.bytes);
  const u = (count: number, accumulate: number) => ({ count: count / N, H, W, OH, OW, KH, KW, SH, SW, PH, PW, accumulate });
  tape.push(gpu.dispatch(maxPool2dForward(), `${label} forward ${shapeStr(x.shape)} k${KH} s${SH} p${PH}${p.ceilMode ? ' ceil' : ''}`,
    { x: x.buffer, y: y.buffer, argmax }, u(y.size, 0), sampleGrid(label, N, y.size / N)));
  tape.record({
    name: label, inputs: [x], output: y,
    backward: (t) => {
      const gx = t.gradOf(x);
      const what = `${label} backward ${shapeStr(x.shape)}`;
      if (!gx.accumulate) {
        t.push(t.gpu.dispatch(fillZero(), `${what} zero`, { out: gx.tensor.buffer }, { count: x.size },
          grid1d(x.size, WORKGROUP_1D * ELEMENTWISE_ITEMS)));
      }
      const stepH = Math.ceil(KH / SH), stepW = Math.ceil(KW / SW);
      for (let classH = 0; classH < Math.min(stepH, OH); classH++) {
        for (let classW = 0; classW < Math.min(stepW, OW); classW++) {
          const rows = Math.ceil(OH / stepH), cols = Math.ceil(OW / stepW);
          const count = C * rows * cols;
          t.push(t.gpu.dispatch(maxPool2dBackward(), `${what} class ${classH},${classW}`,
            { gradOutput: y.grad!.buffer, argmax, gradInput: gx.tensor.buffer },
            { count, H, W, OH, OW, classH, classW, stepH, stepW, rows, cols, pad0: 0 }, sampleGrid(label, N, count)));
        }
      }
    },
  });
  return y;
}

export function adaptiveAvgPool2d(tape: Tape, x: Tensor, outSize: number | [number, number], label = 'adaptive_avg_pool2d'): Tensor {
  assertRank(label, x, 4);
  const [N, C, H, W] = x.shape;
  const [OH, OW] = pair(outSize);
  if (OH < 1 || OW < 1) throw new Error(`${label}: invalid output size ${OH}×${OW}`);
  const gpu = tape.gpu;
  const y = tape.tensor([N, C, OH, OW], label, x.requiresGrad);
  const u = (count: number, accumulate: number) => ({ count: count / N, H, W, OH, OW, KH: 0, KW: 0, SH: 0, SW: 0, PH: 0, PW: 0, accumulate });
  tape.push(gpu.dispatch(adaptiveAvgPool2dForward(), `${label} forward ${shapeStr(x.shape)} → ${OH}×${OW}`,
    { x: x.buffer, y: y.buffer }, u(y.size, 0), sampleGrid(label, N, y.size / N)));
  tape.record({
    name: label, inputs: [x], output: y,
    backward: (t) => {
      const gx = t.gradOf(x);
      t.push(t.gpu.dispatch(adaptiveAvgPool2dBackward(), `${label} backward ${shapeStr(x.shape)}`,
        { gradOutput: y.grad!.buffer, gradInput: gx.tensor.buffer }, u(x.size, gx.accumulate), sampleGrid(label, N, x.size / N)));
    },
  });
  return y;
}
