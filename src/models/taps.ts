// Shape-level runs of an architecture: the tap listing (name, op, output shape) for an input
// size, the expected state_dict keys and shapes, and tap-name resolution with suggestions.
import { type Architecture, type LayerOps, runTo } from './architecture.ts';
import { alexnet } from './alexnet.ts';
import { resnet50 } from './resnet50.ts';
import { conv2dGeometry } from '../engine/ops/conv2d.ts';
import { poolOutputSize } from '../engine/ops/pool.ts';

export type ModelName = 'alexnet' | 'resnet50';
export const MODELS: Record<ModelName, Architecture> = { alexnet, resnet50 };

export function architecture(name: string): Architecture {
  const a = MODELS[name as ModelName];
  if (!a) throw new Error(`unknown model '${name}' (expected one of: ${Object.keys(MODELS).join(', ')})`);
  return a;
}

export interface TapInfo {
  name: string; op: string; shape: number[];
  /** Cumulative stride of the tap w.r.t. the input (its receptive-field step, in input pixels). */
  stride: number;
}
/** A shape-level value: the tensor shape and its cumulative stride. */
interface Shape { s: number[]; stride: number }

/** Runs the architecture on shapes, collecting taps and parameter shapes. */
function shapeOps(taps: TapInfo[], params: Map<string, number[]>): LayerOps<Shape> {
  return {
    conv(name, x, s) {
      params.set(`${name}.weight`, [s.out, s.in, s.kernel, s.kernel]);
      if (s.bias) params.set(`${name}.bias`, [s.out]);
      const g = conv2dGeometry(x.s, [s.out, s.in, s.kernel, s.kernel], { stride: s.stride, padding: s.padding }, name);
      return { s: [g.N, g.OC, g.OH, g.OW], stride: x.stride * (s.stride ?? 1) };
    },
    batchNorm(name, x, c) {
      for (const k of ['weight', 'bias', 'running_mean', 'running_var']) params.set(`${name}.${k}`, [c]);
      params.set(`${name}.num_batches_tracked`, []);
      return x;
    },
    relu: (_n, x) => x,
    maxPool(name, x, p) {
      const [N, C, H, W] = x.s;
      const OH = poolOutputSize(H, p.kernel, p.stride, p.padding ?? 0, !!p.ceilMode);
      const OW = poolOutputSize(W, p.kernel, p.stride, p.padding ?? 0, !!p.ceilMode);
      if (OH < 1 || OW < 1) throw new Error(`${name}: input ${H}×${W} is too small for a ${p.kernel}×${p.kernel} window`);
      return { s: [N, C, OH, OW], stride: x.stride * p.stride };
    },
    // Global pooling and linear layers see the whole image: their stride is the input size.
    adaptiveAvgPool: (_n, x, s) => ({ s: [x.s[0], x.s[1], s, s], stride: x.stride * Math.max(1, Math.round(x.s[2] / s)) }),
    linear(name, x, i, o) {
      if (x.s[1] !== i) throw new Error(`${name}: expects ${i} input features, got ${x.s[1]}`);
      params.set(`${name}.weight`, [o, i]);
      params.set(`${name}.bias`, [o]);
      return { s: [x.s[0], o], stride: x.stride };
    },
    add: (_n, a) => a,
    flatten: (_n, x) => ({ s: [x.s[0], x.s.slice(1).reduce((p, d) => p * d, 1)], stride: x.stride }),
    dropout: (_n, x) => x,
    tap: (name, op, x) => { taps.push({ name, op, shape: [...x.s], stride: x.stride }); },
  };
}

/** Every tap with its op and output shape for an input [N, 3, H, W]. */
export function listTaps(model: string, inputShape: number[] = [1, 3, 224, 224]): TapInfo[] {
  const taps: TapInfo[] = [];
  runTo(architecture(model), shapeOps(taps, new Map()), { s: inputShape, stride: 1 }, null);
  return taps;
}

/** One tap's op, output shape and stride for an input [N, 3, H, W] (runs the shapes only up to the tap). */
export function tapInfo(model: string, tap: string, inputShape: number[] = [1, 3, 224, 224]): TapInfo {
  const taps: TapInfo[] = [];
  runTo(architecture(model), shapeOps(taps, new Map()), { s: inputShape, stride: 1 }, resolveTap(model, tap));
  return taps[taps.length - 1];
}

/** state_dict keys and shapes the model expects (num_batches_tracked included; callers treat it as optional). */
export function expectedParameters(model: string): Map<string, number[]> {
  const params = new Map<string, number[]>();
  runTo(architecture(model), shapeOps([], params), { s: [1, 3, 224, 224], stride: 1 }, null);
  return params;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length];
}

/** The nearest valid names to a mistyped one, best first. */
export function nearestNames(name: string, valid: string[], count = 4): string[] {
  return [...new Set(valid)]
    .map((v) => ({ v, d: editDistance(name, v), l: Math.abs(v.length - name.length) }))
    .sort((a, b) => a.d - b.d || a.l - b.l)
    .slice(0, count)
    .map((x) => x.v);
}

/** Checks a tap name, throwing a one-line error that explains ambiguity or suggests nearest names. */
export function resolveTap(model: string, name: string): string {
  const arch = architecture(model);
  const why = arch.ambiguous(name);
  if (why) throw new Error(`${model}: ${why}`);
  const names = listTaps(model).map((t) => t.name);
  if (names.includes(name)) return name;
  throw new Error(`unknown layer '${name}' for ${model}; nearest: ${nearestNames(name, names).join(', ')} (list them all with --list-layers ${model})`);
}
