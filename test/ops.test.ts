// Every op's forward and every gradient against the float64 CPU reference, on fresh random
// inputs of odd shapes, with outputs poisoned (NaN) before each run.
// Tolerances: relative L2 ≤ 1e-5 forward, ≤ 1e-4 gradients (stated at each check).
import { describe, expect, it } from 'vitest';
import { conv2d } from '../src/engine/ops/conv2d.ts';
import { batchNorm2d } from '../src/engine/ops/batchnorm.ts';
import { add, flatten, relu, seedGradient } from '../src/engine/ops/elementwise.ts';
import { adaptiveAvgPool2d, maxPool2d } from '../src/engine/ops/pool.ts';
import { linear } from '../src/engine/ops/linear.ts';
import {
  adaptiveAvgPoolRef, batchNormRef, conv2dBackwardRef, conv2dRef, linearRef, maxPoolRef, relativeL2, reluRef,
  type Shape4,
} from '../src/engine/reference.ts';
import { f64, freshSeed, poisonedTape, randn, rng, testGpu, uniform } from './helpers.ts';

const FWD_TOL = 1e-5; // relative L2, forward
const GRAD_TOL = 1e-4; // relative L2, gradients

const seed = freshSeed();
const r = rng(seed);
const msg = (what: string) => `${what} (TEST_SEED=${seed})`;

interface ConvCase { x: Shape4; oc: number; k: [number, number]; stride: [number, number]; pad: [number, number]; bias: boolean }
const convCases: ConvCase[] = [
  { x: [2, 3, 13, 17], oc: 5, k: [3, 3], stride: [1, 1], pad: [1, 1], bias: true },
  { x: [2, 3, 13, 17], oc: 9, k: [3, 3], stride: [2, 2], pad: [1, 1], bias: false },
  { x: [1, 3, 31, 29], oc: 11, k: [11, 11], stride: [4, 4], pad: [2, 2], bias: true }, // AlexNet conv1 style
  { x: [2, 7, 9, 11], oc: 13, k: [5, 5], stride: [1, 1], pad: [2, 2], bias: true },
  { x: [3, 10, 7, 6], oc: 17, k: [1, 1], stride: [1, 1], pad: [0, 0], bias: false }, // 1×1 bottleneck
  { x: [1, 4, 15, 14], oc: 6, k: [1, 1], stride: [2, 2], pad: [0, 0], bias: false }, // downsample
  { x: [1, 3, 19, 23], oc: 8, k: [7, 7], stride: [2, 2], pad: [3, 3], bias: false }, // ResNet conv1 style
  { x: [2, 5, 8, 9], oc: 3, k: [3, 2], stride: [3, 2], pad: [0, 1], bias: true }, // non-square everything
  { x: [2, 19, 11, 13], oc: 21, k: [3, 3], stride: [2, 2], pad: [1, 1], bias: true }, // channel counts not multiples of 8
  { x: [1, 5, 9, 70], oc: 18, k: [3, 3], stride: [1, 1], pad: [1, 1], bias: true }, // a plane wider than one 64-lane pixel block
  { x: [1, 6, 21, 23], oc: 7, k: [1, 1], stride: [4, 4], pad: [0, 0], bias: false }, // 1×1 stride 4: phases with no taps
];

/** Tiles of the 'tiled' variant checked explicitly (the default is chosen per shape). */
const tiles = [{ cb: 4, pb: 16 }, { cb: 16, pb: 4 }, { cb: 8, pb: 2 }, { cb: 12, pb: 3 }];

describe('conv2d', () => {
  const runs = [
    ...(['naive', 'blocked', 'row', 'tiled', 'auto', '1x1'] as const).map((variant) => ({ variant, tile: undefined as { cb: number; pb: number } | undefined })),
    ...tiles.map((tile) => ({ variant: 'tiled' as const, tile })),
    { variant: 'row' as const, tile: { cb: 8, pb: 4 } },
    { variant: '1x1' as const, tile: { cb: 8, pb: 3 } },
  ];
  for (const { variant, tile } of runs) {
    for (const c of convCases) {
      if (variant === '1x1' && (c.k[0] !== 1 || c.k[1] !== 1 || c.pad[0] !== 0 || c.pad[1] !== 0)) continue;
      const name = `${variant}${tile ? ` ${tile.cb}×${tile.pb}` : ''} x[${c.x}] oc${c.oc} k${c.k} s${c.stride} p${c.pad}${c.bias ? ' bias' : ''}`;
      it(name, async () => {
        const gpu = await testGpu();
        const tape = poisonedTape(gpu);
        const ws: Shape4 = [c.oc, c.x[1], c.k[0], c.k[1]];
        const xd = randn(r, c.x.reduce((a, b) => a * b)), wd = randn(r, ws.reduce((a, b) => a * b), 0.3), bd = randn(r, c.oc);
        const x = tape.constant(c.x, xd, 'x', true);
        const w = tape.constant(ws, wd, 'w', variant === 'naive');
        const b = c.bias ? tape.constant([c.oc], bd, 'b', variant === 'naive') : null;
        const y = conv2d(tape, x, w, b, { stride: c.stride, padding: c.pad, variant, tile });
        const ref = conv2dRef(f64(xd), c.x, f64(wd), ws, c.bias ? f64(bd) : null, { stride: c.stride, padding: c.pad });
        expect(y.shape).toEqual(ref.shape);
        const gyd = randn(r, y.size);
        seedGradient(tape, y, tape.constant(y.shape, gyd, 'gy'));
        tape.backward();
        const yv = await tape.read(y);
        expect(relativeL2(yv, ref.y), msg('forward, tol 1e-5')).toBeLessThanOrEqual(FWD_TOL);
        const gref = conv2dBackwardRef(f64(xd), c.x, f64(wd), ws, f64(gyd), { stride: c.stride, padding: c.pad });
        expect(relativeL2(await tape.read(x.grad!), gref.gx), msg('input gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
        if (variant === 'naive') {
          expect(relativeL2(await tape.read(w.grad!), gref.gw), msg('weight gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
          if (b) expect(relativeL2(await tape.read(b.grad!), gref.gb), msg('bias gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
        }
        tape.dispose();
      });
    }
  }
});

describe('batchnorm2d (inference)', () => {
  // 7×9 planes take the flat kernel, 17×19 (≥ 256 pixels, not a multiple of 64·4) the per-plane one.
  for (const xs of [[2, 5, 7, 9], [2, 3, 17, 19]] as Shape4[]) it(`forward and gradients for x, gamma, beta on ${xs.join('×')}`, async () => {
    const gpu = await testGpu();
    const tape = poisonedTape(gpu);
    const xd = randn(r, xs.reduce((p, q) => p * q)), gd = uniform(r, xs[1], 0.5, 1.5), bd = randn(r, xs[1]), md = randn(r, xs[1], 0.3), vd = uniform(r, xs[1], 0.2, 2);
    const x = tape.constant(xs, xd, 'x', true);
    const gamma = tape.constant([xs[1]], gd, 'gamma', true), beta = tape.constant([xs[1]], bd, 'beta', true);
    const y = batchNorm2d(tape, x, { gamma, beta, runningMean: tape.constant([xs[1]], md, 'mean'), runningVar: tape.constant([xs[1]], vd, 'var'), eps: 1e-5 });
    const gyd = randn(r, y.size);
    seedGradient(tape, y, tape.constant(y.shape, gyd, 'gy'));
    tape.backward();
    const ref = batchNormRef(f64(xd), xs, f64(gd), f64(bd), f64(md), f64(vd), 1e-5, f64(gyd));
    expect(relativeL2(await tape.read(y), ref.y), msg('forward, tol 1e-5')).toBeLessThanOrEqual(FWD_TOL);
    expect(relativeL2(await tape.read(x.grad!), ref.gx), msg('grad x, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
    expect(relativeL2(await tape.read(gamma.grad!), ref.gGamma), msg('grad gamma, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
    expect(relativeL2(await tape.read(beta.grad!), ref.gBeta), msg('grad beta, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
    tape.dispose();
  });
});

describe('relu, add, flatten', () => {
  it('relu forward and gradient on 2×3×13×17', async () => {
    const gpu = await testGpu();
    const tape = poisonedTape(gpu);
    const xs = [2, 3, 13, 17];
    const xd = randn(r, 2 * 3 * 13 * 17);
    const x = tape.constant(xs, xd, 'x', true);
    const y = relu(tape, x);
    const gyd = randn(r, y.size);
    seedGradient(tape, y, tape.constant(y.shape, gyd, 'gy'));
    tape.backward();
    const ref = reluRef(f64(xd), f64(gyd));
    expect(relativeL2(await tape.read(y), ref.y), msg('forward, tol 1e-5')).toBeLessThanOrEqual(FWD_TOL);
    expect(relativeL2(await tape.read(x.grad!), ref.gx), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
    tape.dispose();
  });

  it('add: residual with one input used twice accumulates both gradients', async () => {
    const gpu = await testGpu();
    const tape = poisonedTape(gpu);
    const xs = [2, 3, 5, 7];
    const n = 2 * 3 * 5 * 7;
    const ad = randn(r, n), gyd = randn(r, n);
    const a = tape.constant(xs, ad, 'a', true);
    const h = relu(tape, a);
    const y = add(tape, h, a); // a reaches y directly and through relu
    seedGradient(tape, y, tape.constant(xs, gyd, 'gy'));
    tape.backward();
    const yref = f64(ad).map((v) => Math.max(v, 0) + v);
    const gref = f64(ad).map((v, i) => gyd[i] * ((v > 0 ? 1 : 0) + 1));
    expect(relativeL2(await tape.read(y), yref), msg('forward, tol 1e-5')).toBeLessThanOrEqual(FWD_TOL);
    expect(relativeL2(await tape.read(a.grad!), gref), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
    tape.dispose();
  });

  it('flatten is a view whose gradient reaches the input', async () => {
    const gpu = await testGpu();
    const tape = poisonedTape(gpu);
    const xd = randn(r, 2 * 3 * 4 * 5), gyd = randn(r, 2 * 60);
    const x = tape.constant([2, 3, 4, 5], xd, 'x', true);
    const y = flatten(tape, x, 1);
    expect(y.shape).toEqual([2, 60]);
    seedGradient(tape, y, tape.constant([2, 60], gyd, 'gy'));
    tape.backward();
    expect(relativeL2(await tape.read(y), f64(xd))).toBe(0);
    expect(relativeL2(await tape.read(x.grad!), f64(gyd))).toBe(0);
    tape.dispose();
  });
});

interface PoolCase { x: Shape4; k: [number, number]; s: [number, number]; p: [number, number]; ceil: boolean }
const poolCases: PoolCase[] = [
  { x: [2, 3, 13, 17], k: [3, 3], s: [2, 2], p: [0, 0], ceil: false }, // AlexNet
  { x: [2, 3, 13, 17], k: [3, 3], s: [2, 2], p: [1, 1], ceil: false }, // ResNet
  { x: [2, 3, 13, 17], k: [3, 3], s: [2, 2], p: [0, 0], ceil: true },
  { x: [1, 2, 10, 11], k: [2, 3], s: [3, 2], p: [1, 1], ceil: true },
  { x: [1, 4, 9, 9], k: [4, 4], s: [4, 4], p: [2, 2], ceil: true },
];

describe('maxpool2d', () => {
  for (const c of poolCases) {
    it(`x[${c.x}] k${c.k} s${c.s} p${c.p}${c.ceil ? ' ceil_mode' : ''}`, async () => {
      const gpu = await testGpu();
      const tape = poisonedTape(gpu);
      const xd = randn(r, c.x.reduce((a, b) => a * b));
      const x = tape.constant(c.x, xd, 'x', true);
      const y = maxPool2d(tape, x, { kernel: c.k, stride: c.s, padding: c.p, ceilMode: c.ceil });
      const ref = maxPoolRef(f64(xd), c.x, { kernel: c.k, stride: c.s, padding: c.p, ceilMode: c.ceil });
      expect(y.shape).toEqual(ref.shape);
      const gyd = randn(r, y.size);
      seedGradient(tape, y, tape.constant(y.shape, gyd, 'gy'));
      tape.backward();
      const gref = maxPoolRef(f64(xd), c.x, { kernel: c.k, stride: c.s, padding: c.p, ceilMode: c.ceil }, f64(gyd));
      expect(relativeL2(await tape.read(y), ref.y), msg('forward, tol 1e-5')).toBeLessThanOrEqual(FWD_TOL);
      expect(relativeL2(await tape.read(x.grad!), gref.gx), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      tape.dispose();
    });
  }
});

describe('maxpool2d gradient accumulation', () => {
  it('one input through two max pools: the second scatter pass set adds to the first', async () => {
    const gpu = await testGpu();
    const tape = poisonedTape(gpu);
    const xs: Shape4 = [2, 3, 13, 17];
    const p = { kernel: 3, stride: 2, padding: 1 } as const;
    const xd = randn(r, xs.reduce((a, b) => a * b));
    const x = tape.constant(xs, xd, 'x', true);
    const y = add(tape, maxPool2d(tape, x, p), maxPool2d(tape, x, p));
    const gyd = randn(r, y.size);
    seedGradient(tape, y, tape.constant(y.shape, gyd, 'gy'));
    tape.backward();
    const gref = maxPoolRef(f64(xd), xs, { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false }, f64(gyd));
    expect(relativeL2(await tape.read(x.grad!), gref.gx.map((v) => 2 * v)), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
    tape.dispose();
  });
});

describe('adaptive_avg_pool2d', () => {
  const cases: { x: Shape4; out: [number, number] }[] = [
    { x: [2, 3, 13, 17], out: [6, 6] }, // non-divisible, AlexNet's size
    { x: [2, 3, 13, 17], out: [1, 1] }, // ResNet's global pool
    { x: [1, 2, 3, 4], out: [6, 6] }, // upsampling: windows overlap
    { x: [1, 5, 7, 7], out: [7, 7] }, // identity
    { x: [2, 2, 10, 9], out: [4, 5] },
  ];
  for (const c of cases) {
    it(`x[${c.x}] → ${c.out}`, async () => {
      const gpu = await testGpu();
      const tape = poisonedTape(gpu);
      const xd = randn(r, c.x.reduce((a, b) => a * b));
      const x = tape.constant(c.x, xd, 'x', true);
      const y = adaptiveAvgPool2d(tape, x, c.out);
      const gyd = randn(r, y.size);
      seedGradient(tape, y, tape.constant(y.shape, gyd, 'gy'));
      tape.backward();
      const ref = adaptiveAvgPoolRef(f64(xd), c.x, c.out, f64(gyd));
      expect(y.shape).toEqual(ref.shape);
      expect(relativeL2(await tape.read(y), ref.y), msg('forward, tol 1e-5')).toBeLessThanOrEqual(FWD_TOL);
      expect(relativeL2(await tape.read(x.grad!), ref.gx), msg('gradient, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      tape.dispose();
    });
  }
});

describe('linear', () => {
  for (const chunks of [1, 3]) {
    it(`N=3, 37 → 23 in ${chunks} row chunk(s), with bias`, async () => {
      const gpu = await testGpu();
      const tape = poisonedTape(gpu);
      const N = 3, I = 37, O = 23;
      const xd = randn(r, N * I), wd = randn(r, O * I, 0.2), bd = randn(r, O);
      const x = tape.constant([N, I], xd, 'x', true);
      const bounds = chunks === 1 ? [0, O] : [0, 8, 15, O];
      const wc = [], bc = [];
      for (let k = 0; k + 1 < bounds.length; k++) {
        const [a, b] = [bounds[k], bounds[k + 1]];
        wc.push(tape.constant([b - a, I], wd.slice(a * I, b * I), `w${k}`, true));
        bc.push(tape.constant([b - a], bd.slice(a, b), `b${k}`, true));
      }
      const y = linear(tape, x, { chunks: wc, bias: bc });
      const gyd = randn(r, N * O);
      seedGradient(tape, y, tape.constant([N, O], gyd, 'gy'));
      tape.backward();
      const ref = linearRef(f64(xd), N, I, f64(wd), O, f64(bd), f64(gyd));
      expect(relativeL2(await tape.read(y), ref.y), msg('forward, tol 1e-5')).toBeLessThanOrEqual(FWD_TOL);
      expect(relativeL2(await tape.read(x.grad!), ref.gx), msg('grad x, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      const gw = new Float32Array(O * I), gb = new Float32Array(O);
      for (let k = 0; k < wc.length; k++) {
        gw.set(await tape.read(wc[k].grad!), bounds[k] * I);
        gb.set(await tape.read(bc[k].grad!), bounds[k]);
      }
      expect(relativeL2(gw, ref.gw), msg('grad w, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      expect(relativeL2(gb, ref.gb), msg('grad b, tol 1e-4')).toBeLessThanOrEqual(GRAD_TOL);
      tape.dispose();
    });
  }
});
