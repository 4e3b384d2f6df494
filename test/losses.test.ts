// Loss and regularizer kernels: per-sample value and weighted gradient, fused, against the
// float64 reference; determinism of the reductions.
import { describe, expect, it } from 'vitest';
import { featureTarget, objective, readObjective, type LossTerm } from '../src/engine/ops/losses.ts';
import { relu } from '../src/engine/ops/elementwise.ts';
import {
  alphaNormRef, featureDistanceRef, pixelAlphaNormRef, relativeL2, totalVariationRef, type Shape4,
} from '../src/engine/reference.ts';
import { f64, freshSeed, poisonedTape, randn, rng, testGpu } from './helpers.ts';

const VALUE_TOL = 1e-5; // relative error of each per-sample value
const GRAD_TOL = 1e-4; // relative L2 of gradients

const seed = freshSeed();
const r = rng(seed);
const msg = (what: string) => `${what} (TEST_SEED=${seed})`;
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

const xs: Shape4 = [2, 3, 13, 17];
const n = xs.reduce((a, b) => a * b);

describe('regularizers', () => {
  const cases: { name: string; make: (x: any, w: number) => LossTerm; ref: (x: Float64Array) => { values: number[]; grad: Float64Array } }[] = [
    { name: 'alpha_norm α=6', make: (x, w) => ({ kind: 'alpha_norm', x, alpha: 6, weight: w }), ref: (x) => alphaNormRef(x, 2, 6) },
    { name: 'alpha_norm α=1', make: (x, w) => ({ kind: 'alpha_norm', x, alpha: 1, weight: w }), ref: (x) => alphaNormRef(x, 2, 1) },
    { name: 'alpha_norm α=2.5', make: (x, w) => ({ kind: 'alpha_norm', x, alpha: 2.5, weight: w }), ref: (x) => alphaNormRef(x, 2, 2.5) },
    { name: 'pixel_alpha_norm α=6', make: (x, w) => ({ kind: 'pixel_alpha_norm', x, alpha: 6, weight: w }), ref: (x) => pixelAlphaNormRef(x, xs, 6) },
    { name: 'pixel_alpha_norm α=1', make: (x, w) => ({ kind: 'pixel_alpha_norm', x, alpha: 1, weight: w }), ref: (x) => pixelAlphaNormRef(x, xs, 1) },
    { name: 'total_variation β=2', make: (x, w) => ({ kind: 'total_variation', x, beta: 2, weight: w }), ref: (x) => totalVariationRef(x, xs, 2) },
    { name: 'total_variation β=1', make: (x, w) => ({ kind: 'total_variation', x, beta: 1, weight: w }), ref: (x) => totalVariationRef(x, xs, 1) },
    { name: 'total_variation β=0.5', make: (x, w) => ({ kind: 'total_variation', x, beta: 0.5, weight: w }), ref: (x) => totalVariationRef(x, xs, 0.5) },
  ];
  for (const c of cases) {
    it(`${c.name}: value per sample and weighted gradient on 2×3×13×17`, async () => {
      const gpu = await testGpu();
      const tape = poisonedTape(gpu);
      const xd = randn(r, n);
      const x = tape.constant(xs, xd, 'x', true);
      const weight = 0.37;
      const o = objective(tape, [c.make(x, weight)]);
      const vals = await readObjective(tape, o);
      const ref = c.ref(f64(xd));
      for (let s = 0; s < 2; s++) {
        expect(relErr(vals[s].terms[0], ref.values[s]), msg(`value sample ${s}, tol 1e-5`)).toBeLessThanOrEqual(VALUE_TOL);
        expect(relErr(vals[s].total, weight * ref.values[s]), msg(`total sample ${s}, tol 1e-5`)).toBeLessThanOrEqual(VALUE_TOL);
      }
      const g = await tape.read(x.grad!);
      expect(relativeL2(g, ref.grad.map((v) => v * weight)), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      tape.dispose();
    });
  }
});

describe('feature distance', () => {
  for (const targetBatch of [1, 2]) {
    it(`||Φ−Φ0||²/||Φ0||² with a target of batch ${targetBatch}, through relu`, async () => {
      const gpu = await testGpu();
      const tape = poisonedTape(gpu);
      const fs = [2, 5, 7, 3];
      const m = 2 * 5 * 7 * 3;
      const fd = randn(r, m), td = randn(r, (m / 2) * targetBatch);
      const f = tape.constant(fs, fd, 'f', true);
      const phi = relu(tape, f);
      const target = featureTarget(tape, tape.constant([targetBatch, 5, 7, 3], td, 'target'));
      const C = 3;
      const o = objective(tape, [{ kind: 'feature_distance', features: phi, target, weight: C }]);
      tape.backward();
      const vals = await readObjective(tape, o);
      const phiRef = f64(fd).map((v) => Math.max(v, 0));
      const ref = featureDistanceRef(phiRef, f64(td), 2, targetBatch);
      for (let s = 0; s < 2; s++) {
        expect(relErr(vals[s].terms[0], ref.values[s]), msg(`value sample ${s}, tol 1e-5`)).toBeLessThanOrEqual(VALUE_TOL);
      }
      const gref = ref.grad.map((v, i) => (fd[i] > 0 ? C * v : 0));
      expect(relativeL2(await tape.read(f.grad!), gref), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      target.normSq.destroy();
      tape.dispose();
    });
  }
});

describe('regularizers over several workgroup chunks per sample', () => {
  // 3×61×67 = 12261 elements per sample: three partial-sum chunks, the last one partial.
  const bs: Shape4 = [2, 3, 61, 67];
  const bn = bs.reduce((a, b) => a * b);
  const cases: { name: string; make: (x: any) => LossTerm; ref: (x: Float64Array) => { values: number[]; grad: Float64Array } }[] = [
    { name: 'total_variation β=2', make: (x) => ({ kind: 'total_variation', x, beta: 2, weight: 0.5 }), ref: (x) => totalVariationRef(x, bs, 2) },
    { name: 'total_variation β=1.5', make: (x) => ({ kind: 'total_variation', x, beta: 1.5, weight: 0.5 }), ref: (x) => totalVariationRef(x, bs, 1.5) },
    { name: 'alpha_norm α=3', make: (x) => ({ kind: 'alpha_norm', x, alpha: 3, weight: 0.5 }), ref: (x) => alphaNormRef(x, 2, 3) },
  ];
  for (const c of cases) {
    it(`${c.name} on ${bs.join('×')}`, async () => {
      const gpu = await testGpu();
      const tape = poisonedTape(gpu);
      const xd = randn(r, bn);
      const x = tape.constant(bs, xd, 'x', true);
      const o = objective(tape, [c.make(x)]);
      const vals = await readObjective(tape, o);
      const ref = c.ref(f64(xd));
      for (let s = 0; s < 2; s++) {
        expect(relErr(vals[s].terms[0], ref.values[s]), msg(`value sample ${s}, tol 1e-5`)).toBeLessThanOrEqual(VALUE_TOL);
      }
      expect(relativeL2(await tape.read(x.grad!), ref.grad.map((v) => v * 0.5)), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      tape.dispose();
    });
  }
});

describe('objective', () => {
  it('weighted sum of terms; the image gradient is the sum of the weighted term gradients', async () => {
    const gpu = await testGpu();
    const tape = poisonedTape(gpu);
    const xd = randn(r, n, 0.5);
    const x = tape.constant(xs, xd, 'x', true);
    const o = objective(tape, [
      { kind: 'alpha_norm', x, alpha: 6, weight: 1e-2 },
      { kind: 'total_variation', x, beta: 2, weight: 0.5 },
    ]);
    const vals = await readObjective(tape, o);
    const a = alphaNormRef(f64(xd), 2, 6), t = totalVariationRef(f64(xd), xs, 2);
    for (let s = 0; s < 2; s++) {
      expect(relErr(vals[s].total, 1e-2 * a.values[s] + 0.5 * t.values[s]), msg('total, tol 1e-5')).toBeLessThanOrEqual(VALUE_TOL);
    }
    const gref = a.grad.map((v, i) => 1e-2 * v + 0.5 * t.grad[i]);
    expect(relativeL2(await tape.read(x.grad!), gref), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
    tape.dispose();
  });

  it('reductions are deterministic: two runs give bit-identical values and gradients', async () => {
    const gpu = await testGpu();
    const xd = randn(r, 3 * 224 * 224);
    const runOnce = async () => {
      const tape = poisonedTape(gpu);
      const x = tape.constant([1, 3, 224, 224], xd, 'x', true);
      const o = objective(tape, [
        { kind: 'alpha_norm', x, alpha: 6, weight: 1e-5 },
        { kind: 'total_variation', x, beta: 2, weight: 1e-5 },
      ]);
      await tape.run();
      const v = new Float32Array(await gpu.readBuffer(o.values, 12, 'objective'));
      const g = await tape.read(x.grad!);
      tape.dispose();
      return { v, g };
    };
    const a = await runOnce(), b = await runOnce();
    expect(Buffer.from(a.v.buffer).equals(Buffer.from(b.v.buffer))).toBe(true);
    expect(Buffer.from(a.g.buffer).equals(Buffer.from(b.g.buffer))).toBe(true);
  });

  it('rejects invalid exponents and mismatched targets with a clear message', async () => {
    const gpu = await testGpu();
    const tape = poisonedTape(gpu);
    const x = tape.constant([1, 3, 4, 4], randn(r, 48), 'x', true);
    expect(() => objective(tape, [{ kind: 'alpha_norm', x, alpha: 0.5, weight: 1 }])).toThrow(/alpha must be ≥ 1/);
    expect(() => objective(tape, [{ kind: 'total_variation', x, beta: 0, weight: 1 }])).toThrow(/beta must be > 0/);
    const target = featureTarget(tape, tape.constant([1, 3, 4, 5], randn(r, 60), 't'));
    expect(() => objective(tape, [{ kind: 'feature_distance', features: x, target, weight: 1 }])).toThrow(/does not match features/);
    target.normSq.destroy();
    tape.dispose();
  });
});
