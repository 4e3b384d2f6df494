// End to end against PyTorch: the seed preset's objective and optimizer (SGD momentum 0.9,
// lr 1e2, StepLR) from the same initial image and target; the loss at each of the first 50
// iterations must match torch's (float64 reference) within 1e-3 relative, for AlexNet
// features.4 and ResNet50 layer1. Fixtures from tools/make_model_fixtures.py (see fidelity).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Inversion } from '../src/invert/inversion.ts';
import { applyOverrides, presetSettings } from '../src/invert/settings.ts';
import { loadModel } from '../src/models/network.ts';
import { testGpu } from './helpers.ts';
import { FIXTURE_DIR, loadFixture, torchFixtures } from './torch-fixtures.ts';

const TRACE_TOL = 1e-3; // relative, per iteration
const dir = FIXTURE_DIR;
const have = torchFixtures('the PyTorch inversion-trace test');
const load = loadFixture;

describe.skipIf(!have)('seed inversion vs PyTorch, first 50 iterations', () => {
  for (const [name, tap] of [['alexnet', 'features.4'], ['resnet50', 'layer1']] as const) {
    it(`${name} ${tap}`, async () => {
      const gpu = await testGpu();
      const model = loadModel(gpu, name, load(`${name}-random.pth`), { kind: 'file', description: 'torch random' });
      const tr = load(`${name}-trace.pth`);
      const meta = JSON.parse(readFileSync(join(dir, `${name}-trace.json`), 'utf8'));
      expect(meta.recipe).toMatchObject({ C: 1, lambda_alpha: 1e-5, lambda_tv: 1e-5, alpha: 6, beta: 2, lr: 100, momentum: 0.9, step_size: 100, gamma: 0.1 });
      const [, , H, W] = tr.get('x0')!.shape;
      const settings = applyOverrides(presetSettings('seed', name, tap), { iterations: 50 });
      // The preset's schedule steps at 100; over 50 iterations lr stays 1e2, as in torch.
      const inv = await Inversion.create(gpu, {
        model, tap, target: tr.get('x0')!.data, height: H, width: W, settings, initial: tr.get('x_init')!.data, readEvery: 1,
      });
      await inv.run();
      const ref = { total: tr.get('loss')!.data, feature: tr.get('feature')!.data, alpha: tr.get('alpha')!.data, tv: tr.get('tv')!.data };
      expect(inv.history.length).toBe(50);
      const bad: string[] = [];
      let worst = 0;
      inv.history.forEach((p, i) => {
        for (const k of ['total', 'feature', 'alpha', 'tv'] as const) {
          const e = Math.abs(p[k] - ref[k][i]) / Math.abs(ref[k][i]);
          if (k === 'total') worst = Math.max(worst, e);
          if (!(e <= TRACE_TOL)) bad.push(`iteration ${i} ${k}: ${p[k]} vs torch ${ref[k][i]}`);
        }
      });
      console.log(`${name} ${tap}: worst relative loss difference over 50 iterations ${worst.toExponential(2)}; loss ${inv.history[0].total.toFixed(4)} → ${inv.history[49].total.toFixed(4)}`);
      expect(bad.slice(0, 5), 'tolerance 1e-3').toEqual([]);
      inv.destroy();
      model.destroy();
    });
  }
});
