// Preset parameters (the published recipes, FACTS.md / README), overrides and validation.
import { describe, expect, it } from 'vitest';
import { applyOverrides, lrSchedule, parseParameter, presetSettings } from '../src/invert/settings.ts';

describe('presets', () => {
  it('seed: the research note defaults', () => {
    const s = presetSettings('seed', 'alexnet', 'features.4');
    expect(s).toMatchObject({
      iterations: 200, lr: 1e2, lrSteps: [100], lrDecay: 0.1, momentum: 0.9, momentumStyle: 'pytorch',
      lambdaAlpha: 1e-5, alpha: 6, alphaMode: 'element', lambdaTV: 1e-5, beta: 2, featureWeight: 1,
      pixelSpace: 'normalized', jitter: 1, bound: 0, refineIterations: 0,
    });
    expect(lrSchedule(s.lr, s.lrSteps, s.lrDecay, s.iterations)).toEqual([{ until: 100, lr: 100 }, { until: 200, lr: 100 * 0.1 }]);
  });

  it('mahendran2015: deep-goggle recipe', () => {
    const s = presetSettings('mahendran2015', 'alexnet', 'features.0');
    const sigma = 27098 * (224 / 227);
    expect(s).toMatchObject({
      iterations: 400, lr: 0.004, lrSteps: [100, 300], lrDecay: 0.1, momentumStyle: 'goggle', alpha: 6, beta: 2,
      lambdaAlpha: 4e-10, lambdaTV: 0.5, pixelSpace: 'caffe', init: 'gaussian-norm',
    });
    expect(s.featureWeight).toBeCloseTo(sigma * sigma, 3);
    expect(s.initScale).toBeCloseTo(sigma, 6);
    expect(presetSettings('mahendran2015', 'alexnet', 'features.6').lambdaTV).toBe(5);
    expect(presetSettings('mahendran2015', 'alexnet', 'classifier.6').lambdaTV).toBe(50);
    const sched = lrSchedule(s.lr, s.lrSteps, s.lrDecay, s.iterations);
    expect(sched.map((x) => x.until)).toEqual([100, 300, 400]);
    expect(sched.map((x) => x.lr)).toEqual([0.004, 0.0004, 0.004 * 0.1 * 0.1]);
  });

  it('mahendran2016: nnpreimage recipe', () => {
    const s = presetSettings('mahendran2016', 'resnet50', 'layer2');
    expect(s).toMatchObject({
      iterations: 300, refineIterations: 50, refineLrScale: 0.1, lrPerPixel: true, momentumStyle: 'adagrad', momentum: 0.9,
      alpha: 6, beta: 2, alphaMode: 'pixel', normalizeByPixels: true, featureWeight: 1, pixelSpace: 'caffe', jitter: 0, bound: 160,
      init: 'uniform-q95',
    });
    expect(s.lr).toBeCloseTo((0.05 * 80 * 80) / 6, 10);
    expect(s.lambdaAlpha).toBeCloseTo(80 ** -6, 20);
    expect(s.lambdaTV).toBeCloseTo((6.5 / 80) ** 2, 12);
    expect(s.initScale).toBeCloseTo(80 / Math.sqrt(3), 10);
  });

  it('every parameter can be overridden on its own; a single lr-step means every N iterations', () => {
    const s = applyOverrides(presetSettings('seed', 'alexnet', 'features.4'), {
      iterations: 300, lr: 5, 'lr-step': [50], 'lr-decay': 0.5, momentum: 0.8, 'lambda-alpha': 1e-7, alpha: 3,
      'lambda-tv': 1e-3, beta: 1.5, C: 2, 'init-scale': 0.2, seed: 7, jitter: 4, 'momentum-style': 'goggle',
    });
    expect(s).toMatchObject({ iterations: 300, lr: 5, lrSteps: [50, 100, 150, 200, 250], lrDecay: 0.5, momentum: 0.8, lambdaAlpha: 1e-7,
      alpha: 3, lambdaTV: 1e-3, beta: 1.5, featureWeight: 2, initScale: 0.2, seed: 7, jitter: 4, momentumStyle: 'goggle' });
    expect(applyOverrides(s, { 'lr-step': [10, 250] }).lrSteps).toEqual([10, 250]);
  });

  it('bad values are one-line errors naming the parameter', () => {
    expect(() => parseParameter('lr', 'fast')).toThrow("--lr: 'fast' is not a number");
    expect(() => parseParameter('iterations', '2.5')).toThrow("--iterations: '2.5' is not a non-negative integer");
    expect(() => parseParameter('momentum-style', 'nesterov')).toThrow(/not one of pytorch, goggle, adagrad/);
    expect(() => parseParameter('gamma', '1')).toThrow(/unknown parameter 'gamma'/);
    const seed = presetSettings('seed', 'alexnet', 'features.4');
    expect(() => applyOverrides(seed, { alpha: 0.5 })).toThrow(/alpha must be ≥ 1/);
    expect(() => applyOverrides(seed, { momentum: 1 })).toThrow(/momentum must be in \[0, 1\)/);
    expect(() => applyOverrides(seed, { iterations: 0 })).toThrow(/iterations must be a positive integer/);
    expect(() => presetSettings('mahendran2017', 'alexnet', 'features.4')).toThrow("unknown preset 'mahendran2017' (expected one of: seed, mahendran2015, mahendran2016)");
  });
});
