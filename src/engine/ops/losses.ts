// The objective: a weighted sum of fused loss terms, each writing its per-sample value and its
// weighted gradient in one pass. Values land in one small buffer laid out
// [N][1 + terms] = (total, term 0, term 1, …) so one copy reads everything back.
import type { Tape } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import {
  LOSS_CHUNK, LOSS_PARTIALS_PER_CHUNK, alphaNormKernel, combineObjective, featureDistanceKernel, pixelAlphaNormKernel,
  sumPartials, totalVariationKernel,
} from '../../shaders/losses.ts';
import type { KernelSource } from '../kernel.ts';

/** A fixed feature target Φ0 with ||Φ0||² per target sample, computed once. */
export interface FeatureTarget {
  features: Tensor;
  /** ||Φ0||² per target sample (f32 buffer of `features.shape[0]` values). */
  normSq: GPUBuffer;
}

export type LossTerm =
  | { kind: 'feature_distance'; features: Tensor; target: FeatureTarget; weight: number }
  | { kind: 'alpha_norm'; x: Tensor; alpha: number; weight: number }
  | { kind: 'pixel_alpha_norm'; x: Tensor; alpha: number; weight: number }
  | { kind: 'total_variation'; x: Tensor; beta: number; weight: number };

export interface Objective {
  /** [N][1 + terms] f32: total, then each term's unweighted value. */
  values: GPUBuffer;
  N: number;
  terms: string[];
}

interface Launch { kernel: KernelSource; input: Tensor; perSample: number; buffers: Record<string, GPUBuffer>; exponent: number; targetBatch: number }

function launchFor(term: LossTerm): Launch {
  switch (term.kind) {
    case 'feature_distance': {
      const f = term.features, t = term.target.features;
      const perSample = f.size / f.shape[0];
      if (t.size / t.shape[0] !== perSample || (t.shape[0] !== 1 && t.shape[0] !== f.shape[0])) {
        throw new Error(`feature_distance: target ${t} does not match features ${f}`);
      }
      return { kernel: featureDistanceKernel(), input: f, perSample, exponent: 2, targetBatch: t.shape[0],
        buffers: { features: f.buffer, target0: t.buffer, targetNorm: term.target.normSq } };
    }
    case 'alpha_norm':
      if (!(term.alpha >= 1)) throw new Error(`alpha_norm: alpha must be ≥ 1 (got ${term.alpha})`);
      return { kernel: alphaNormKernel(), input: term.x, perSample: term.x.size / term.x.shape[0], exponent: term.alpha, targetBatch: 1, buffers: { x: term.x.buffer } };
    case 'pixel_alpha_norm':
      if (!(term.alpha >= 1)) throw new Error(`pixel_alpha_norm: alpha must be ≥ 1 (got ${term.alpha})`);
      if (term.x.rank !== 4) throw new Error(`pixel_alpha_norm: input must be NCHW, got ${term.x}`);
      return { kernel: pixelAlphaNormKernel(), input: term.x, perSample: term.x.shape[2] * term.x.shape[3], exponent: term.alpha, targetBatch: 1, buffers: { x: term.x.buffer } };
    case 'total_variation':
      if (!(term.beta > 0)) throw new Error(`total_variation: beta must be > 0 (got ${term.beta})`);
      if (term.x.rank !== 4) throw new Error(`total_variation: input must be NCHW, got ${term.x}`);
      return { kernel: totalVariationKernel(), input: term.x, perSample: term.x.size / term.x.shape[0], exponent: term.beta, targetBatch: 1, buffers: { x: term.x.buffer } };
  }
}

/** Records one fused loss kernel: partial sums and (if its input requires grad) weight·∇ added to the input's gradient. */
function recordTerm(tape: Tape, term: LossTerm, out: GPUBuffer, stride: number, slot: number, label: string): void {
  const l = launchFor(term);
  const N = l.input.shape[0];
  const chunks = Math.ceil(l.perSample / LOSS_CHUNK);
  if (chunks > tape.gpu.device.limits.maxComputeWorkgroupsPerDimension) throw new Error(`${label}: ${l.input} is too large per sample`);
  if (l.perSample >= 1 << 24) throw new Error(`${label}: ${l.input} has ${l.perSample} elements per sample, more than the loss kernels' 2^24 index range`);
  const partials = tape.scratch(`${label} partials`, N * chunks * LOSS_PARTIALS_PER_CHUNK * 4);
  const writeGrad = l.input.requiresGrad ? 1 : 0;
  const g = writeGrad ? tape.gradOf(l.input) : null;
  const [, C = 1, H = 1, W = 1] = l.input.shape;
  const gradName = term.kind === 'feature_distance' ? 'gradFeatures' : 'gradX';
  tape.push(tape.gpu.dispatch(l.kernel, `${label} ${shapeStr(l.input.shape)}`,
    { ...l.buffers, [gradName]: g ? g.tensor.buffer : tape.scratch(`${label} unused gradient`, 16), partials },
    { perSample: l.perSample, chunks, C, H, W, writeGrad, accumulate: g?.accumulate ?? 0, targetBatch: l.targetBatch,
      weight: term.weight, exponent: l.exponent, pad0: 0, pad1: 0 },
    [chunks, N, 1]));
  tape.push(tape.gpu.dispatch(sumPartials(), `${label} sum`, { partials, out }, { chunks: chunks * LOSS_PARTIALS_PER_CHUNK, stride, offset: slot, pad0: 0 }, [N, 1, 1]));
}

/** ||Φ0||² per sample of a target, into a buffer the returned target owns (caller destroys it with the target). */
export function featureTarget(tape: Tape, features: Tensor): FeatureTarget {
  const N = features.shape[0];
  const normSq = tape.gpu.createBuffer(`${features.label} ||Φ0||²`, N * 4);
  const frozen = new Tensor(features.shape, features.buffer, features.label, false);
  recordTerm(tape, { kind: 'alpha_norm', x: frozen, alpha: 2, weight: 0 }, normSq, 1, 0, 'target norm');
  return { features, normSq };
}

/**
 * Records the objective Σ weight_t · term_t per sample and seeds the gradients of every input
 * that requires grad; follow with tape.backward().
 */
export function objective(tape: Tape, terms: LossTerm[], names?: string[]): Objective {
  if (!terms.length) throw new Error('objective: no loss terms');
  const N = launchFor(terms[0]).input.shape[0];
  for (const t of terms) {
    const n = launchFor(t).input.shape[0];
    if (n !== N) throw new Error(`objective: terms have different batch sizes (${N} and ${n})`);
    if (!Number.isFinite(t.weight)) throw new Error(`objective: ${t.kind} weight ${t.weight} is not finite`);
  }
  const stride = terms.length + 1;
  const values = tape.scratch('objective', N * stride * 4);
  terms.forEach((t, k) => recordTerm(tape, t, values, stride, k + 1, names?.[k] ?? t.kind));
  const weights = tape.constant([terms.length], new Float32Array(terms.map((t) => t.weight)), 'objective weights');
  tape.push(tape.gpu.dispatch(combineObjective(), 'objective total', { weights: weights.buffer, objective: values },
    { N, terms: terms.length, pad0: 0, pad1: 0 }, [Math.ceil(N / 64), 1, 1]));
  return { values, N, terms: names ?? terms.map((t) => t.kind) };
}

/** Reads the objective back: per sample, the total and each term. */
export async function readObjective(tape: Tape, o: Objective): Promise<{ total: number; terms: number[] }[]> {
  await tape.run();
  const v = new Float32Array(await tape.gpu.readBuffer(o.values, o.N * (o.terms.length + 1) * 4, 'objective'));
  return parseObjective(v, o);
}

export function parseObjective(v: Float32Array, o: Objective): { total: number; terms: number[] }[] {
  const stride = o.terms.length + 1;
  return Array.from({ length: o.N }, (_, n) => ({ total: v[n * stride], terms: Array.from(v.subarray(n * stride + 1, (n + 1) * stride)) }));
}
