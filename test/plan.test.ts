// Plan replay against the eager tape: same objective readbacks and the same image, bit for
// bit, over several optimizer iterations; two replays from the same start are identical.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/engine/gpu.ts';
import { Tape } from '../src/engine/tape.ts';
import { Tensor } from '../src/engine/tensor.ts';
import { conv2d } from '../src/engine/ops/conv2d.ts';
import { relu } from '../src/engine/ops/elementwise.ts';
import { maxPool2d } from '../src/engine/ops/pool.ts';
import { featureTarget, objective, readObjective, type FeatureTarget } from '../src/engine/ops/losses.ts';
import { SgdState, sgdStep, type SgdSettings } from '../src/engine/ops/optimizer.ts';
import { Plan } from '../src/engine/plan.ts';
import { freshSeed, randn, rng, testGpu } from './helpers.ts';

const seed = freshSeed();
const r = rng(seed);

function persistent(gpu: Gpu, shape: number[], data: Float32Array, label: string, requiresGrad = false): Tensor {
  return new Tensor(shape, gpu.upload(label, data), label, requiresGrad);
}

interface Net { w1: Tensor; b1: Tensor; w2: Tensor }
function network(tape: Tape, x: Tensor, net: Net): Tensor {
  const h = relu(tape, conv2d(tape, x, net.w1, net.b1, { stride: 2, padding: 1, label: 'c1' }), 'r1');
  const p = maxPool2d(tape, h, { kernel: 3, stride: 2, ceilMode: true }, 'p1');
  return conv2d(tape, p, net.w2, null, { padding: 1, label: 'c2' });
}

function iteration(tape: Tape, x: Tensor, net: Net, target: FeatureTarget, state: SgdState) {
  const phi = network(tape, x, net);
  const o = objective(tape, [
    { kind: 'feature_distance', features: phi, target, weight: 1 },
    { kind: 'alpha_norm', x, alpha: 6, weight: 1e-3 },
    { kind: 'total_variation', x, beta: 2, weight: 1e-2 },
  ]);
  tape.backward();
  sgdStep(tape, x, state);
  return o;
}

describe('plan replay', () => {
  for (const style of ['pytorch', 'goggle', 'adagrad'] as const) {
    it(`equals the eager tape over 7 iterations (momentum style ${style}, lr step at 4)`, async () => {
      const gpu = await testGpu();
      const xs = [2, 3, 23, 21];
      const x0 = randn(r, 2 * 3 * 23 * 21, 0.5);
      const net: Net = {
        w1: persistent(gpu, [6, 3, 3, 3], randn(r, 162, 0.3), 'w1'),
        b1: persistent(gpu, [6], randn(r, 6, 0.1), 'b1'),
        w2: persistent(gpu, [5, 6, 3, 3], randn(r, 270, 0.2), 'w2'),
      };
      const ttape = new Tape(gpu, { label: 'target' });
      const target = featureTarget(ttape, ttape.detach(network(ttape, ttape.constant(xs, randn(r, x0.length), 'target image'), net)));
      await ttape.run();
      const settings: SgdSettings = { schedule: [{ until: 4, lr: 0.05 }, { until: 7, lr: 0.005 }], momentum: 0.9, style };

      // Eager: a fresh tape per iteration, poisoned, over the same persistent image and state.
      const xe = persistent(gpu, xs, x0, 'x eager', true);
      const se = new SgdState(ttape, xe, settings);
      const eager: number[][] = [];
      for (let k = 0; k < 7; k++) {
        const tape = new Tape(gpu, { poison: true, label: `eager ${k}` });
        const o = iteration(tape, xe, net, target, se);
        eager.push((await readObjective(tape, o)).flatMap((s) => [s.total, ...s.terms]));
        tape.dispose();
      }
      const xEager = new Float32Array(await gpu.readBuffer(xe.buffer, xe.bytes, 'x eager'));

      const replay = async () => {
        const xp = persistent(gpu, xs, x0, 'x plan', true);
        const sp = new SgdState(ttape, xp, settings);
        const tape = new Tape(gpu, { label: 'plan' });
        const plan = new Plan(tape, iteration(tape, xp, net, target, sp));
        const reads = await plan.run(7, { readEvery: 1, iterationsPerSubmit: 3 });
        const x = new Float32Array(await gpu.readBuffer(xp.buffer, xp.bytes, 'x plan'));
        plan.destroy(); tape.dispose(); sp.destroy(); xp.buffer.destroy();
        return { reads, x };
      };
      const a = await replay();
      expect(a.reads.map((rb) => rb.iteration)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      a.reads.forEach((rb, k) => {
        expect(rb.perSample.flatMap((s) => [s.total, ...s.terms]), `iteration ${k} (TEST_SEED=${seed})`).toEqual(eager[k]);
      });
      expect(Buffer.from(a.x.buffer).equals(Buffer.from(xEager.buffer)), 'final image equals eager').toBe(true);
      expect(eager[6][0]).toBeLessThan(eager[0][0]); // the optimizer makes progress
      expect(eager.flat().every(Number.isFinite)).toBe(true);
      const b = await replay();
      expect(Buffer.from(b.x.buffer).equals(Buffer.from(a.x.buffer)), 'two replays are bit-identical').toBe(true);
      se.destroy(); target.normSq.destroy(); ttape.dispose();
    });
  }

  it('reads the objective back only where asked', async () => {
    const gpu = await testGpu();
    const x = persistent(gpu, [1, 3, 8, 8], randn(r, 192), 'x', true);
    const tape = new Tape(gpu, { label: 'plan' });
    const o = objective(tape, [{ kind: 'total_variation', x, beta: 2, weight: 1e-2 }]);
    tape.backward();
    const state = new SgdState(tape, x, { schedule: [{ until: 1, lr: 0.1 }], momentum: 0.9 });
    sgdStep(tape, x, state);
    const plan = new Plan(tape, o);
    const reads = await plan.run(25, { readEvery: 10, iterationsPerSubmit: 4 });
    expect(reads.map((rb) => rb.iteration)).toEqual([0, 10, 20, 24]);
    expect(reads[3].perSample[0].total).toBeLessThan(reads[0].perSample[0].total);
    plan.destroy(); tape.dispose(); state.destroy();
  });
});

describe('sgd kernel', () => {
  for (const style of ['pytorch', 'goggle', 'adagrad'] as const) {
    it(`matches a float64 reference of the ${style} update over 6 steps with an lr change`, async () => {
      const gpu = await testGpu();
      const n = 37;
      const x0 = randn(r, n);
      const x = persistent(gpu, [1, 1, 1, n], x0, 'x', true);
      const settings: SgdSettings = { schedule: [{ until: 3, lr: 0.2 }, { until: 6, lr: 0.02 }], momentum: 0.9, style, rho: 0.9 };
      const state = new SgdState(new Tape(gpu), x, settings);
      // Objective ½·Σx² (alpha_norm α=2, weight ½): gradient = x.
      for (let k = 0; k < 6; k++) {
        const tape = new Tape(gpu, { label: `sgd ${k}` });
        objective(tape, [{ kind: 'alpha_norm', x, alpha: 2, weight: 0.5 }]);
        sgdStep(tape, x, state);
        await tape.run();
        tape.dispose();
      }
      const got = new Float32Array(await gpu.readBuffer(x.buffer, x.bytes, 'x'));
      const xr = Float64Array.from(x0), v = new Float64Array(n), G = new Float64Array(n);
      for (let t = 0; t < 6; t++) {
        const lr = state.lrAt(t);
        for (let i = 0; i < n; i++) {
          const g = xr[i];
          if (style === 'pytorch') { v[i] = 0.9 * v[i] + g; xr[i] -= lr * v[i]; }
          else if (style === 'goggle') { if (t > 0 && state.lrAt(t - 1) !== lr) v[i] = 0; v[i] = 0.9 * v[i] - lr * g; xr[i] += v[i]; }
          else { if (t > 0 && state.lrAt(t - 1) !== lr) v[i] = 0; G[i] = 0.9 * G[i] + g * g; v[i] = 0.9 * v[i] - g / (1 / lr + Math.sqrt(G[i])); xr[i] += v[i]; }
        }
      }
      let err = 0, den = 0;
      for (let i = 0; i < n; i++) { err += (got[i] - xr[i]) ** 2; den += xr[i] ** 2; }
      expect(Math.sqrt(err / den), 'relative L2, tol 1e-5').toBeLessThanOrEqual(1e-5);
      state.destroy();
    });
  }
});
