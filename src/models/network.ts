// A model on the engine: weights checked against the architecture and uploaded once, and a
// forward that records engine ops up to a tap.
import type { Gpu } from '../engine/gpu.ts';
import type { Tape } from '../engine/tape.ts';
import { Tensor } from '../engine/tensor.ts';
import { conv2d } from '../engine/ops/conv2d.ts';
import { batchNorm2d } from '../engine/ops/batchnorm.ts';
import { add, dropout, flatten, relu } from '../engine/ops/elementwise.ts';
import { adaptiveAvgPool2d, maxPool2d } from '../engine/ops/pool.ts';
import { linear, type LinearWeight } from '../engine/ops/linear.ts';
import { type LayerOps, runTo } from './architecture.ts';
import { architecture, expectedParameters, resolveTap, type ModelName } from './taps.ts';
import { checkStateDict } from './weights/check.ts';
import type { StateDict } from './weights/types.ts';
import { mulberry32 } from '../engine/random.ts';

export type WeightsKind = 'pretrained' | 'random' | 'file';

export interface LoadedModel {
  name: ModelName;
  /** Where the weights came from, for every report: 'random' weights are labelled as such everywhere. */
  weights: { kind: WeightsKind; description: string };
  params: Map<string, Tensor>;
  linears: Map<string, LinearWeight>;
  destroy(): void;
}

/** Largest weight chunk uploaded as one buffer: well under lavapipe's 128 MiB binding limit. */
const MAX_CHUNK_BYTES = 64 << 20;

/** Checks a state_dict against the model (one error listing missing/unexpected/mis-shaped keys) and uploads it. */
export function loadModel(gpu: Gpu, name: string, sd: StateDict, weights: LoadedModel['weights'], fileName = 'weights'): LoadedModel {
  const arch = architecture(name);
  const expected = expectedParameters(arch.name);
  checkStateDict(sd, expected, { optional: (k) => k.endsWith('num_batches_tracked'), fileName, modelName: arch.name });
  const params = new Map<string, Tensor>();
  const linears = new Map<string, LinearWeight>();
  const buffers: GPUBuffer[] = [];
  const upload = (key: string, data: Float32Array, shape: number[]) => {
    const b = gpu.upload(`${arch.name}.${key}`, data);
    buffers.push(b);
    return new Tensor(shape, b, `${arch.name}.${key}`);
  };
  for (const [key, shape] of expected) {
    if (key.endsWith('num_batches_tracked')) continue;
    const t = sd.get(key)!;
    const isLinear = shape.length === 2;
    if (!isLinear) { params.set(key, upload(key, t.data, shape)); continue; }
    // Linear weights go up in row chunks so each fits one storage binding.
    const [O, I] = shape;
    const rowsPer = Math.max(1, Math.floor(MAX_CHUNK_BYTES / (4 * I)));
    const layer = key.slice(0, -'.weight'.length);
    const bias = sd.get(`${layer}.bias`)!;
    const lw: LinearWeight = { chunks: [], bias: [] };
    for (let o = 0; o < O; o += rowsPer) {
      const rows = Math.min(rowsPer, O - o);
      lw.chunks.push(upload(`${key}[${o}:${o + rows}]`, t.data.subarray(o * I, (o + rows) * I), [rows, I]));
      lw.bias!.push(upload(`${layer}.bias[${o}:${o + rows}]`, bias.data.subarray(o, o + rows), [rows]));
    }
    linears.set(layer, lw);
  }
  return {
    name: arch.name, weights, params, linears,
    destroy() {
      for (const b of buffers) b.destroy();
      for (const t of params.values()) for (const d of t.derived.values()) d.buffer.destroy();
    },
  };
}

/**
 * Records the forward of `model` on `x` ([N, 3, H, W], ImageNet-normalised) up to `tap`;
 * `onTap` sees every tap passed on the way (to read many layers from one forward).
 */
export function forwardTo(tape: Tape, model: LoadedModel, x: Tensor, tap: string, onTap?: (name: string, t: Tensor) => void): Tensor {
  resolveTap(model.name, tap);
  const p = (key: string) => {
    const t = model.params.get(key);
    if (!t) throw new Error(`${model.name}: parameter ${key} was not loaded`);
    return t;
  };
  const ops: LayerOps<Tensor> = {
    conv: (name, v, s) => conv2d(tape, v, p(`${name}.weight`), s.bias ? p(`${name}.bias`) : null, { stride: s.stride, padding: s.padding, label: name }),
    batchNorm: (name, v) => batchNorm2d(tape, v, {
      gamma: p(`${name}.weight`), beta: p(`${name}.bias`), runningMean: p(`${name}.running_mean`), runningVar: p(`${name}.running_var`), eps: 1e-5,
    }, name),
    relu: (name, v) => relu(tape, v, name),
    maxPool: (name, v, s) => maxPool2d(tape, v, { kernel: s.kernel, stride: s.stride, padding: s.padding ?? 0, ceilMode: s.ceilMode }, name),
    adaptiveAvgPool: (name, v, size) => adaptiveAvgPool2d(tape, v, size, name),
    linear: (name, v) => linear(tape, v, model.linears.get(name)!, name),
    add: (name, a, b) => add(tape, a, b, name),
    flatten: (name, v) => flatten(tape, v, 1, name),
    dropout: (_name, v) => dropout(tape, v),
    tap: (name, _op, v) => onTap?.(name, v),
  };
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`${model.name}: input must be [N, 3, H, W], got ${x}`);
  return runTo(architecture(model.name), ops, x, tap);
}

/**
 * Seeded, deterministic random weights (He-uniform convs and linears, zero biases, identity
 * batch norms): for tests and offline demos. Anything made with them says "random weights".
 */
export function randomStateDict(name: string, seed = 0): StateDict {
  const sd: StateDict = new Map();
  const next = mulberry32(seed ^ 0x9e3779b9);
  for (const [key, shape] of expectedParameters(name)) {
    if (key.endsWith('num_batches_tracked')) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (key.endsWith('.weight') && shape.length > 1) {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      const bound = Math.sqrt(6 / fanIn);
      for (let i = 0; i < n; i++) data[i] = (2 * next() - 1) * bound;
    } else if (key.endsWith('running_var') || (key.endsWith('.weight') && shape.length === 1)) {
      data.fill(1);
    }
    sd.set(key, { shape, data, dtype: 'float32' });
  }
  return sd;
}
