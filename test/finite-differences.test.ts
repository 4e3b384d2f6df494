// Gradients against central finite differences. The float64 references (the oracles of the
// GPU tests) are checked at every coordinate of small inputs; the GPU objective through a
// small network is checked at random coordinates in f32 with a coarse step.
import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPoolRef, alphaNormRef, batchNormRef, conv2dBackwardRef, conv2dRef, featureDistanceRef, linearRef,
  maxPoolRef, pixelAlphaNormRef, relativeL2, totalVariationRef, type Shape4,
} from '../src/engine/reference.ts';
import { Tape } from '../src/engine/tape.ts';
import { conv2d } from '../src/engine/ops/conv2d.ts';
import { relu } from '../src/engine/ops/elementwise.ts';
import { maxPool2d, adaptiveAvgPool2d } from '../src/engine/ops/pool.ts';
import { featureTarget, objective, readObjective } from '../src/engine/ops/losses.ts';
import { f64, freshSeed, randn, rng, testGpu } from './helpers.ts';

const seed = freshSeed();
const r = rng(seed);
const FD_TOL = 1e-6; // relative L2, float64 central differences with h = 1e-6

/** Checks grad against central differences of f (a scalar function of x), every coordinate. */
function checkFd(f: (x: Float64Array) => number, x: Float64Array, grad: Float64Array, what: string, h = 1e-6) {
  const fd = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + h; const fp = f(x);
    x[i] = old - h; const fm = f(x);
    x[i] = old;
    fd[i] = (fp - fm) / (2 * h);
  }
  expect(relativeL2(grad, fd), `${what} (TEST_SEED=${seed}), tol ${FD_TOL}`).toBeLessThanOrEqual(FD_TOL);
}

const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);

describe('float64 references vs central finite differences', () => {
  it('conv2d: input, weight and bias gradients (stride 2, padding 1)', () => {
    const xs: Shape4 = [2, 3, 7, 6], ws: Shape4 = [4, 3, 3, 3];
    const x = f64(randn(r, 252)), w = f64(randn(r, 108)), b = f64(randn(r, 4));
    const p = { stride: [2, 2] as [number, number], padding: [1, 1] as [number, number] };
    const gy = f64(randn(r, conv2dRef(x, xs, w, ws, b, p).y.length));
    const g = conv2dBackwardRef(x, xs, w, ws, gy, p);
    checkFd((xx) => dot(conv2dRef(xx, xs, w, ws, b, p).y, gy), x, g.gx, 'conv2d dx');
    checkFd((ww) => dot(conv2dRef(x, xs, ww, ws, b, p).y, gy), w, g.gw, 'conv2d dw');
    checkFd((bb) => dot(conv2dRef(x, xs, w, ws, bb, p).y, gy), b, g.gb, 'conv2d db');
  });

  it('maxpool (ceil_mode, padding) and adaptive average pool', () => {
    const xs: Shape4 = [1, 2, 7, 8];
    const x = f64(randn(r, 112));
    const p = { kernel: [3, 3] as [number, number], stride: [2, 2] as [number, number], padding: [1, 1] as [number, number], ceilMode: true };
    const gy = f64(randn(r, maxPoolRef(x, xs, p).y.length));
    checkFd((xx) => dot(maxPoolRef(xx, xs, p).y, gy), x, maxPoolRef(x, xs, p, gy).gx, 'maxpool dx');
    const ga = f64(randn(r, 2 * 3 * 5));
    checkFd((xx) => dot(adaptiveAvgPoolRef(xx, xs, [3, 5]).y, ga), x, adaptiveAvgPoolRef(x, xs, [3, 5], ga).gx, 'adaptive pool dx');
  });

  it('batchnorm and linear', () => {
    const xs: Shape4 = [2, 3, 2, 3];
    const x = f64(randn(r, 36)), gm = f64(randn(r, 3)), bt = f64(randn(r, 3)), m = f64(randn(r, 3)), v = f64(randn(r, 3).map((a) => 1 + a * a));
    const gy = f64(randn(r, 36));
    const ref = batchNormRef(x, xs, gm, bt, m, v, 1e-5, gy);
    checkFd((xx) => dot(batchNormRef(xx, xs, gm, bt, m, v, 1e-5).y, gy), x, ref.gx, 'bn dx');
    checkFd((gg) => dot(batchNormRef(x, xs, gg, bt, m, v, 1e-5).y, gy), gm, ref.gGamma, 'bn dgamma');
    checkFd((bb) => dot(batchNormRef(x, xs, gm, bb, m, v, 1e-5).y, gy), bt, ref.gBeta, 'bn dbeta');
    const lx = f64(randn(r, 2 * 7)), lw = f64(randn(r, 5 * 7)), lb = f64(randn(r, 5)), lg = f64(randn(r, 10));
    const l = linearRef(lx, 2, 7, lw, 5, lb, lg);
    checkFd((xx) => dot(linearRef(xx, 2, 7, lw, 5, lb).y, lg), lx, l.gx, 'linear dx');
    checkFd((ww) => dot(linearRef(lx, 2, 7, ww, 5, lb).y, lg), lw, l.gw, 'linear dw');
  });

  it('loss terms: feature distance, α-norms, total variation (β = 2, 1, 0.7)', () => {
    const xs: Shape4 = [2, 3, 5, 4];
    const x = f64(randn(r, 120)), t = f64(randn(r, 60));
    const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
    checkFd((xx) => sum(featureDistanceRef(xx, t, 2, 1).values), x, featureDistanceRef(x, t, 2, 1).grad, 'feature distance');
    checkFd((xx) => sum(alphaNormRef(xx, 2, 6).values), x, alphaNormRef(x, 2, 6).grad, 'alpha norm 6');
    checkFd((xx) => sum(alphaNormRef(xx, 2, 1.5).values), x, alphaNormRef(x, 2, 1.5).grad, 'alpha norm 1.5');
    checkFd((xx) => sum(pixelAlphaNormRef(xx, xs, 6).values), x, pixelAlphaNormRef(x, xs, 6).grad, 'pixel alpha norm');
    for (const beta of [2, 1, 0.7]) {
      checkFd((xx) => sum(totalVariationRef(xx, xs, beta).values), x, totalVariationRef(x, xs, beta).grad, `tv β=${beta}`);
    }
  });
});

describe('GPU objective vs finite differences', () => {
  it('conv → relu → maxpool → adaptive pool → feature distance + α + TV, at 12 random coordinates', async () => {
    const gpu = await testGpu();
    const xs = [1, 3, 11, 9];
    const n = 297;
    const xd = randn(r, n), wd = randn(r, 4 * 3 * 9, 0.4), td = randn(r, 4 * 9);
    const loss = async (data: Float32Array, withGrad: boolean) => {
      const tape = new Tape(gpu, { label: 'fd' });
      const x = tape.constant(xs, data, 'x', withGrad);
      const w = tape.constant([4, 3, 3, 3], wd, 'w');
      const phi = adaptiveAvgPool2d(tape, maxPool2d(tape, relu(tape, conv2d(tape, x, w, null, { padding: 1 })), { kernel: 2, stride: 2, ceilMode: true }), [3, 3]);
      const target = featureTarget(tape, tape.constant([1, 4, 3, 3], td, 't'));
      const o = objective(tape, [
        { kind: 'feature_distance', features: phi, target, weight: 1 },
        { kind: 'alpha_norm', x, alpha: 4, weight: 1e-3 },
        { kind: 'total_variation', x, beta: 2, weight: 1e-2 },
      ]);
      if (withGrad) tape.backward();
      const v = (await readObjective(tape, o))[0].total;
      const g = withGrad ? await tape.read(x.grad!) : null;
      target.normSq.destroy();
      tape.dispose();
      return { v, g };
    };
    const { g } = await loss(xd, true);
    const h = 1e-2; // f32: a coarse step; the objective is smooth almost everywhere
    for (let k = 0; k < 12; k++) {
      const i = Math.floor(r() * n);
      const p = xd.slice(), m = xd.slice();
      p[i] += h; m[i] -= h;
      const fd = ((await loss(p, false)).v - (await loss(m, false)).v) / (2 * h);
      // Absolute tolerance scaled to the gradient's size: f32 differences of a sum of ~300 terms.
      const scale = Math.max(...Array.from(g!, Math.abs));
      expect(Math.abs(fd - g![i]), `coordinate ${i}: fd ${fd} vs ${g![i]} (TEST_SEED=${seed}), tol 2e-2·max|g|`).toBeLessThanOrEqual(2e-2 * scale);
    }
  });
});
