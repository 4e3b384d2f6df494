// Browser entry for test/browser.test.ts: the portable engine on navigator.gpu, checked in the
// page against the float64 references. Imports only portable code (src/web, engine, shaders,
// models), so a Node dependency sneaking into them breaks this bundle, not just a lint.
// The page calls runBrowserChecks(seed) and stores the result on window.__result.
import { createWebGpu } from '../../src/web/device.ts';
import type { AdapterDescription, Gpu } from '../../src/engine/gpu.ts';
import { Tape } from '../../src/engine/tape.ts';
import { Tensor } from '../../src/engine/tensor.ts';
import { conv2d, type Conv2dVariant } from '../../src/engine/ops/conv2d.ts';
import { relu, seedGradient } from '../../src/engine/ops/elementwise.ts';
import { maxPool2d } from '../../src/engine/ops/pool.ts';
import { featureTarget, objective, readObjective, type FeatureTarget, type Objective } from '../../src/engine/ops/losses.ts';
import { SgdState, sgdStep, type SgdSettings } from '../../src/engine/ops/optimizer.ts';
import { Plan } from '../../src/engine/plan.ts';
import {
  alphaNormRef, conv2dBackwardRef, conv2dRef, featureDistanceRef, relativeL2, totalVariationRef, type Shape4,
} from '../../src/engine/reference.ts';
import { gaussian, mulberry32 } from '../../src/engine/random.ts';
import { forwardTo, loadModel, randomStateDict } from '../../src/models/network.ts';

/**
 * Chromium 156's SwiftShader adapter never finishes compiling the 'tiled' conv2d kernels with
 * 12+ pixels per invocation (8 take 5–8 s; the GPU process drops the device after ~2 min). The
 * engine's 'auto' selection therefore uses the 'row' kernels on every adapter but llvmpipe
 * (Gpu.profile); the explicit 'tiled' variant with its 4×16 image-layer tile is not checked here.
 */

export const FWD_TOL = 1e-5; // relative L2 (or relative error of a scalar), forward values
export const GRAD_TOL = 1e-4; // relative L2, gradients

/** One comparison. `error` is null when the value was not finite (JSON has no Infinity/NaN). */
export interface BrowserCheck { name: string; error: number | null; tol: number; pass: boolean; ms: number; message?: string }

export interface BrowserResult {
  adapter: AdapterDescription | null;
  isFallbackAdapter: boolean | null;
  checks: BrowserCheck[];
  /** features.4 of random-weight AlexNet on the seeded 1×3×67×67 input (compared with Node by the test). */
  alexnet: { shape: number[]; values: number[] } | null;
  /** WebGPU errors that escaped every error scope. */
  uncaptured: string[];
  fatal: string | null;
  ms: number;
}

export const ALEXNET_INPUT: readonly [number, number, number, number] = [1, 3, 67, 67];
export const ALEXNET_TAP = 'features.4';

/** The seeded AlexNet input: the same bytes on Node and in the page. */
export function alexnetInput(seed: number): Float32Array {
  return gaussian(mulberry32(seed ^ 0x51ed270b), ALEXNET_INPUT.reduce((a, b) => a * b, 1));
}

/** Random-weight AlexNet (randomStateDict seed 0) forward to features.4, read back. Runs on any Gpu. */
export async function alexnetFeatures(gpu: Gpu, seed: number): Promise<{ shape: number[]; values: Float32Array }> {
  const model = loadModel(gpu, 'alexnet', randomStateDict('alexnet', 0), { kind: 'random', description: 'random weights (seed 0)' });
  const tape = new Tape(gpu, { poison: true, label: 'alexnet' });
  try {
    const x = tape.constant(ALEXNET_INPUT, alexnetInput(seed), 'alexnet input');
    const y = forwardTo(tape, model, x, ALEXNET_TAP);
    return { shape: [...y.shape], values: await tape.read(y) };
  } finally {
    tape.dispose();
    model.destroy();
  }
}

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const errorText = (e: unknown) => (e instanceof Error ? `${e.message}${e.stack ? `\n${e.stack}` : ''}` : String(e));

class Checks {
  readonly list: BrowserCheck[] = [];
  add(name: string, error: number, tol: number, ms: number, message?: string): void {
    const finite = Number.isFinite(error);
    this.list.push({ name, error: finite ? error : null, tol, pass: finite && error <= tol, ms, ...(message ? { message } : {}) });
  }
  /** Runs one group; an exception becomes a failed check naming the group and the error. */
  async group(name: string, body: (add: (what: string, error: number, tol: number) => void) => Promise<void>): Promise<void> {
    const t0 = performance.now();
    const add = (what: string, error: number, tol: number) => this.add(`${name}: ${what}`, error, tol, performance.now() - t0);
    try {
      await body(add);
    } catch (e) {
      this.add(`${name}: threw`, Infinity, 0, performance.now() - t0, errorText(e));
    }
  }
}

/** (a) conv2d forward and input gradient, stride 2 padding 1, odd sizes; naive also weight/bias gradients. */
async function convChecks(gpu: Gpu, checks: Checks, r: () => number): Promise<void> {
  // 'tiled' only where C > 4 (its C ≤ 4 tile is llvmpipe-only, see above); 'auto' everywhere.
  const cases: { x: Shape4; oc: number; k: number; s: number; p: number; variants: Conv2dVariant[] }[] = [
    { x: [2, 5, 13, 11], oc: 9, k: 3, s: 2, p: 1, variants: ['naive', 'blocked', 'row', 'tiled', 'auto'] },
    { x: [1, 3, 17, 15], oc: 7, k: 5, s: 2, p: 1, variants: ['naive', 'blocked', 'row', 'auto'] },
    { x: [2, 6, 9, 7], oc: 10, k: 1, s: 1, p: 0, variants: ['1x1', 'auto'] }, // ResNet's bottleneck GEMM
  ];
  for (const c of cases) for (const variant of c.variants) {
    await checks.group(`conv2d ${variant} x[${c.x}] oc${c.oc} k${c.k} s${c.s} p${c.p}`, async (add) => {
      const tape = new Tape(gpu, { poison: true, label: 'conv' });
      try {
        const ws: Shape4 = [c.oc, c.x[1], c.k, c.k];
        const xd = gaussian(r, size(c.x)), wd = gaussian(r, size(ws)).map((v) => 0.3 * v), bd = gaussian(r, c.oc);
        const x = tape.constant(c.x, xd, 'x', true);
        const w = tape.constant(ws, wd, 'w', variant === 'naive');
        const b = tape.constant([c.oc], bd, 'b', variant === 'naive');
        const y = conv2d(tape, x, w, b, { stride: c.s, padding: c.p, variant });
        const p = { stride: [c.s, c.s] as [number, number], padding: [c.p, c.p] as [number, number] };
        const ref = conv2dRef(f64(xd), c.x, f64(wd), ws, f64(bd), p);
        const gyd = gaussian(r, y.size);
        seedGradient(tape, y, tape.constant(y.shape, gyd, 'gy'));
        tape.backward();
        add('forward', relativeL2(await tape.read(y), ref.y), FWD_TOL);
        const gref = conv2dBackwardRef(f64(xd), c.x, f64(wd), ws, f64(gyd), p);
        add('input gradient', relativeL2(await tape.read(x.grad!), gref.gx), GRAD_TOL);
        if (variant === 'naive') {
          add('weight gradient', relativeL2(await tape.read(w.grad!), gref.gw), GRAD_TOL);
          add('bias gradient', relativeL2(await tape.read(b.grad!), gref.gb), GRAD_TOL);
        }
      } finally {
        tape.dispose();
      }
    });
  }
}

/** (b) one fused objective: feature distance (through relu) + α-norm + TV, values and both gradients. */
async function objectiveChecks(gpu: Gpu, checks: Checks, r: () => number): Promise<void> {
  await checks.group('objective feature_distance + alpha_norm α=6 + total_variation β=2', async (add) => {
    const tape = new Tape(gpu, { poison: true, label: 'objective' });
    let target: FeatureTarget | null = null;
    try {
      const N = 2, xs: Shape4 = [N, 3, 13, 17], fs: Shape4 = [N, 5, 7, 3];
      const xd = gaussian(r, size(xs)).map((v) => 0.5 * v), fd = gaussian(r, size(fs)), td = gaussian(r, size(fs) / N);
      const x = tape.constant(xs, xd, 'x', true);
      const f = tape.constant(fs, fd, 'f', true);
      const phi = relu(tape, f);
      target = featureTarget(tape, tape.constant([1, ...fs.slice(1)], td, 'target'));
      const wf = 3, wa = 1e-2, wt = 0.5;
      const o = objective(tape, [
        { kind: 'feature_distance', features: phi, target, weight: wf },
        { kind: 'alpha_norm', x, alpha: 6, weight: wa },
        { kind: 'total_variation', x, beta: 2, weight: wt },
      ]);
      tape.backward();
      const vals = await readObjective(tape, o);
      const fr = featureDistanceRef(f64(fd).map((v) => Math.max(v, 0)), f64(td), N, 1);
      const ar = alphaNormRef(f64(xd), N, 6), tr = totalVariationRef(f64(xd), xs, 2);
      let termErr = 0, totalErr = 0;
      for (let s = 0; s < N; s++) {
        const refs = [fr.values[s], ar.values[s], tr.values[s]];
        refs.forEach((v, k) => { termErr = Math.max(termErr, relErr(vals[s].terms[k], v)); });
        totalErr = Math.max(totalErr, relErr(vals[s].total, wf * refs[0] + wa * refs[1] + wt * refs[2]));
      }
      add('per-sample term values (max relative error)', termErr, FWD_TOL);
      add('per-sample total (max relative error)', totalErr, FWD_TOL);
      add('feature gradient through relu', relativeL2(await tape.read(f.grad!), fr.grad.map((v, i) => (fd[i] > 0 ? wf * v : 0))), GRAD_TOL);
      add('image gradient (α-norm + TV)', relativeL2(await tape.read(x.grad!), ar.grad.map((v, i) => wa * v + wt * tr.grad[i])), GRAD_TOL);
    } finally {
      target?.normSq.destroy();
      tape.dispose();
    }
  });
}

interface Net { w1: Tensor; b1: Tensor; w2: Tensor }

function persistent(gpu: Gpu, shape: number[], data: Float32Array, label: string, requiresGrad = false): Tensor {
  return new Tensor(shape, gpu.upload(label, data), label, requiresGrad);
}

function smallNetwork(tape: Tape, x: Tensor, net: Net): Tensor {
  const h = relu(tape, conv2d(tape, x, net.w1, net.b1, { stride: 2, padding: 1, label: 'c1' }), 'r1');
  const p = maxPool2d(tape, h, { kernel: 3, stride: 2, ceilMode: true }, 'p1');
  return conv2d(tape, p, net.w2, null, { padding: 1, label: 'c2' });
}

function iteration(tape: Tape, x: Tensor, net: Net, target: FeatureTarget, state: SgdState): Objective {
  const o = objective(tape, [
    { kind: 'feature_distance', features: smallNetwork(tape, x, net), target, weight: 1 },
    { kind: 'alpha_norm', x, alpha: 6, weight: 1e-3 },
    { kind: 'total_variation', x, beta: 2, weight: 1e-2 },
  ]);
  tape.backward();
  sgdStep(tape, x, state);
  return o;
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return ua.every((v, i) => v === ub[i]);
}
/** Count of entries whose float32 bit patterns differ (objective values are float32 read back as numbers). */
const mismatches = (a: number[], b: number[]) =>
  a.length !== b.length ? Math.max(a.length, b.length) : a.filter((v, i) => !Object.is(Math.fround(v), Math.fround(b[i]))).length;

/** (c) a Plan replaying conv → relu → maxpool → conv → objective → backward → sgd equals the eager tape bit for bit. */
async function planChecks(gpu: Gpu, checks: Checks, r: () => number): Promise<void> {
  await checks.group('plan replay vs eager tape, 5 iterations', async (add) => {
    const ITERS = 5;
    const xs = [2, 3, 23, 21];
    const x0 = gaussian(r, size(xs)).map((v) => 0.5 * v);
    const net: Net = {
      w1: persistent(gpu, [6, 3, 3, 3], gaussian(r, 162).map((v) => 0.3 * v), 'w1'),
      b1: persistent(gpu, [6], gaussian(r, 6).map((v) => 0.1 * v), 'b1'),
      w2: persistent(gpu, [5, 6, 3, 3], gaussian(r, 270).map((v) => 0.2 * v), 'w2'),
    };
    const ttape = new Tape(gpu, { label: 'target' });
    const target = featureTarget(ttape, ttape.detach(smallNetwork(ttape, ttape.constant(xs, gaussian(r, x0.length), 'target image'), net)));
    await ttape.run();
    const settings: SgdSettings = { schedule: [{ until: 3, lr: 0.05 }, { until: ITERS, lr: 0.005 }], momentum: 0.9, style: 'pytorch' };
    const toFree: { destroy(): void }[] = [net.w1.buffer, net.b1.buffer, net.w2.buffer, target.features.buffer, target.normSq];
    try {
      const xe = persistent(gpu, xs, x0, 'x eager', true);
      const se = new SgdState(ttape, xe, settings);
      toFree.push(xe.buffer, se);
      const eager: number[][] = [];
      for (let k = 0; k < ITERS; k++) {
        const tape = new Tape(gpu, { poison: true, label: `eager ${k}` });
        try {
          const o = iteration(tape, xe, net, target, se);
          eager.push((await readObjective(tape, o)).flatMap((s) => [s.total, ...s.terms]));
        } finally {
          tape.dispose();
        }
      }
      const xEager = new Float32Array(await gpu.readBuffer(xe.buffer, xe.bytes, 'x eager'));

      const xp = persistent(gpu, xs, x0, 'x plan', true);
      const sp = new SgdState(ttape, xp, settings);
      toFree.push(xp.buffer, sp);
      const tape = new Tape(gpu, { label: 'plan' });
      const plan = new Plan(tape, iteration(tape, xp, net, target, sp));
      try {
        const reads = await plan.run(ITERS, { readEvery: 1, iterationsPerSubmit: 2 });
        const xPlan = new Float32Array(await gpu.readBuffer(xp.buffer, xp.bytes, 'x plan'));
        add('readback iterations are 0..4 (count of wrong ones)', reads.map((rb) => rb.iteration).filter((it, k) => it !== k).length + Math.abs(reads.length - ITERS), 0);
        add('objective per iteration bit-equal to eager (mismatching values)',
          reads.reduce((m, rb, k) => m + mismatches(rb.perSample.flatMap((s) => [s.total, ...s.terms]), eager[k] ?? []), 0), 0);
        add('final image bit-equal to eager (0 = equal)', bitsEqual(xPlan, xEager) ? 0 : 1, 0);
        add('objective decreases over the iterations (0 = yes)', eager[ITERS - 1][0] < eager[0][0] ? 0 : 1, 0);
        add('all objective values finite (non-finite count)', eager.flat().filter((v) => !Number.isFinite(v)).length, 0);
      } finally {
        plan.destroy();
        tape.dispose();
      }
    } finally {
      ttape.dispose();
      for (const b of toFree) b.destroy();
    }
  });
}

/** Runs every check in this page. Never throws: failures are recorded in the result. */
export async function runBrowserChecks(seed: number): Promise<BrowserResult> {
  const t0 = performance.now();
  const result: BrowserResult = { adapter: null, isFallbackAdapter: null, checks: [], alexnet: null, uncaptured: [], fatal: null, ms: 0 };
  const checks = new Checks();
  let gpu: Gpu | null = null;
  try {
    // Plain requestAdapter(): in headless Chromium without a GPU this is SwiftShader (a fallback adapter).
    gpu = await createWebGpu();
    result.adapter = gpu.adapter;
    result.isFallbackAdapter = (await navigator.gpu.requestAdapter())?.info.isFallbackAdapter ?? null;
    gpu.device.addEventListener('uncapturederror', (e) => { result.uncaptured.push((e as GPUUncapturedErrorEvent).error.message); });
    const r = mulberry32(seed);
    await convChecks(gpu, checks, r);
    await objectiveChecks(gpu, checks, r);
    await planChecks(gpu, checks, r);
    await checks.group('alexnet features.4 forward', async (add) => {
      const a = await alexnetFeatures(gpu!, seed);
      result.alexnet = { shape: a.shape, values: Array.from(a.values) };
      add('values finite (non-finite count)', a.values.filter((v) => !Number.isFinite(v)).length, 0);
    });
  } catch (e) {
    result.fatal = errorText(e);
  } finally {
    gpu?.destroy();
  }
  result.checks = checks.list;
  result.ms = performance.now() - t0;
  return result;
}
