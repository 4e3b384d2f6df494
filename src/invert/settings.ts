// Inversion settings and the published presets. Every parameter can be set on its own; a
// preset is just a complete set of values with its source.
//
// The objective (per image):
//   E(x) = C·‖Φ(T(x)) − Φ0‖²/‖Φ0‖² + λα·Rα(x)/P + λTV·RTV,β(x)/P
// where T maps the optimisation space to the network's ImageNet-normalised input, Rα is the
// element-wise Σ|x|^α or the per-pixel Σ(Σ_c x²)^(α/2), RTV the total variation with a
// replicated border, and P = 1 or the pixel count (normalizeByPixels).

export type PixelSpace = 'normalized' | 'caffe';
export type MomentumStyle = 'pytorch' | 'goggle' | 'adagrad';
export type InitKind = 'gaussian' | 'gaussian-norm' | 'uniform-q95';

export interface InversionSettings {
  preset: string;
  /** Iterations of the main stage. */
  iterations: number;
  /** Initial learning rate (×pixels when lrPerPixel). */
  lr: number;
  /** Iterations at which the learning rate is multiplied by lrDecay. */
  lrSteps: number[];
  lrDecay: number;
  lrPerPixel: boolean;
  momentum: number;
  momentumStyle: MomentumStyle;
  /** C, the weight of the feature reconstruction term. */
  featureWeight: number;
  lambdaAlpha: number;
  alpha: number;
  /** 'element': Σ|x|^α (2015, seed); 'pixel': Σ_pixels (Σ_c x²)^(α/2) (2016). */
  alphaMode: 'element' | 'pixel';
  lambdaTV: number;
  beta: number;
  /** Divide both regularizers by the number of pixels (2016). */
  normalizeByPixels: boolean;
  /** Space x is optimised in: 'normalized' (torchvision's input) or 'caffe' (0–255 minus the mean colour). */
  pixelSpace: PixelSpace;
  init: InitKind;
  /** gaussian: σ per element; gaussian-norm: ‖x‖ for a 224×224 image (scaled with the pixel count); uniform-q95: the 95% quantile. */
  initScale: number;
  /** Random shift per iteration, in pixels: 0 = automatic (max(round(stride/4), 1) of the tap), 1 = none. */
  jitter: number;
  /** Colour-vector norm bound per pixel after each step (0 = none). */
  bound: number;
  /** A second stage without jitter from the first stage's result (2016: 50 iterations at 0.1·lr). */
  refineIterations: number;
  refineLrScale: number;
  seed: number;
}

/** Sources for the README and reports. */
export const PRESET_SOURCES: Record<string, string> = {
  seed: 'the seed research note (shared/seed): 200 iterations, lr 1e2 ×0.1 every 100, SGD momentum 0.9, λα = λTV = 1e-5, α = 6, β = 2; torchvision-normalised pixels, init 0.1·N(0,1)',
  mahendran2015: 'Mahendran & Vedaldi, CVPR 2015 (deep-goggle invert_nn.m / experiment_cnn.m): 0–255 mean-subtracted pixels, init N(0,1) scaled to ‖x‖ = 27098·(224/227), objective scaled by that σ², λα = 8e-10/2, λTV = 1/2 · (1, 10 or 100 by depth), lr 0.004 × [1 (100 it), 0.1 (200), 0.01 (100)], momentum 0.9 reset when lr changes',
  mahendran2016: 'Mahendran & Vedaldi, IJCV 2016 (nnpreimage get_defaults.m / nnpreimage.m): B = 80, V = B/6.5, Rα/(HW·B^α) per pixel, RTV/(HW·V^β), C = 1, jitter max(round(stride/4),1), colour norm ≤ 2B = 160, AdaGrad-scaled momentum 0.9 with lr = HW·0.05·B²/α, 300 iterations then 50 at 0.1·lr without jitter',
};

const X0_SIGMA_227 = 27098;
const B = 80;

function seedPreset(): InversionSettings {
  return {
    preset: 'seed', iterations: 200, lr: 1e2, lrSteps: [100], lrDecay: 0.1, lrPerPixel: false,
    momentum: 0.9, momentumStyle: 'pytorch', featureWeight: 1,
    lambdaAlpha: 1e-5, alpha: 6, alphaMode: 'element', lambdaTV: 1e-5, beta: 2, normalizeByPixels: false,
    pixelSpace: 'normalized', init: 'gaussian', initScale: 0.1, jitter: 1, bound: 0,
    refineIterations: 0, refineLrScale: 0.1, seed: 0,
  };
}

/** deep-goggle's λTV by depth (caffe AlexNet layers 1–6: 1, 7–12: 10, 13–20: 100), mapped onto torchvision's names. */
export function goggleTvLambda(model: string, tap: string): number {
  if (model === 'alexnet') {
    const f = /^features\.(\d+)$/.exec(tap);
    if (f) return Number(f[1]) <= 4 ? 1 : Number(f[1]) <= 9 ? 10 : 100;
    return 100;
  }
  // ResNet50 has no published values: the same three steps by stage.
  if (/^(conv1|bn1|relu|maxpool|layer1)/.test(tap)) return 1;
  if (/^(layer2|layer3)/.test(tap)) return 10;
  return 100;
}

function mahendran2015(model: string, tap: string): InversionSettings {
  const sigma = X0_SIGMA_227 * (224 / 227);
  return {
    ...seedPreset(), preset: 'mahendran2015', iterations: 400, lr: 0.004, lrSteps: [100, 300], lrDecay: 0.1,
    momentumStyle: 'goggle', featureWeight: sigma * sigma, lambdaAlpha: 8e-10 / 2, alpha: 6, alphaMode: 'element',
    lambdaTV: goggleTvLambda(model, tap) / 2, beta: 2, pixelSpace: 'caffe', init: 'gaussian-norm', initScale: sigma,
  };
}

function mahendran2016(): InversionSettings {
  const alpha = 6, beta = 2;
  return {
    ...seedPreset(), preset: 'mahendran2016', iterations: 300, lr: (0.05 * B * B) / alpha, lrSteps: [], lrDecay: 1,
    lrPerPixel: true, momentumStyle: 'adagrad', featureWeight: 1,
    lambdaAlpha: (1 / B) ** alpha, alpha, alphaMode: 'pixel', lambdaTV: (6.5 / B) ** beta, beta, normalizeByPixels: true,
    pixelSpace: 'caffe', init: 'uniform-q95', initScale: B / Math.sqrt(3), jitter: 0, bound: 2 * B,
    refineIterations: 50, refineLrScale: 0.1,
  };
}

export const PRESETS = ['seed', 'mahendran2015', 'mahendran2016'] as const;

export function presetSettings(name: string, model: string, tap: string): InversionSettings {
  switch (name) {
    case 'seed': return seedPreset();
    case 'mahendran2015': return mahendran2015(model, tap);
    case 'mahendran2016': return mahendran2016();
    default: throw new Error(`unknown preset '${name}' (expected one of: ${PRESETS.join(', ')})`);
  }
}

/** Overridable parameters by their CLI/JSON names. */
export const PARAMETERS: Record<string, { key: keyof InversionSettings; kind: 'number' | 'int' | 'list' | 'enum'; values?: readonly string[]; help: string }> = {
  iterations: { key: 'iterations', kind: 'int', help: 'iterations of the main stage' },
  'refine-iterations': { key: 'refineIterations', kind: 'int', help: 'iterations of the refinement stage without jitter (mahendran2016: 50; 0 = none)' },
  lr: { key: 'lr', kind: 'number', help: 'initial learning rate' },
  'lr-step': { key: 'lrSteps', kind: 'list', help: 'decay the learning rate every N iterations (or at a comma list of iterations)' },
  'lr-decay': { key: 'lrDecay', kind: 'number', help: 'learning-rate multiplier at each step' },
  momentum: { key: 'momentum', kind: 'number', help: 'momentum' },
  'momentum-style': { key: 'momentumStyle', kind: 'enum', values: ['pytorch', 'goggle', 'adagrad'], help: 'momentum update rule' },
  'lambda-alpha': { key: 'lambdaAlpha', kind: 'number', help: 'weight λα of the α-norm' },
  alpha: { key: 'alpha', kind: 'number', help: 'exponent α (≥ 1)' },
  'lambda-tv': { key: 'lambdaTV', kind: 'number', help: 'weight λTV of total variation' },
  beta: { key: 'beta', kind: 'number', help: 'exponent β (> 0)' },
  C: { key: 'featureWeight', kind: 'number', help: 'weight C of the feature term' },
  'init-scale': { key: 'initScale', kind: 'number', help: 'initial noise scale' },
  seed: { key: 'seed', kind: 'int', help: 'random seed of the initial image and jitter' },
  jitter: { key: 'jitter', kind: 'int', help: 'jitter in pixels (0 = automatic, 1 = none)' },
};

/** Parses one value for a parameter, with an error naming the parameter. */
export function parseParameter(name: string, raw: string): number | number[] | string {
  const p = PARAMETERS[name];
  if (!p) throw new Error(`unknown parameter '${name}' (expected one of: ${Object.keys(PARAMETERS).join(', ')})`);
  const num = (s: string) => {
    const v = Number(s.trim());
    if (s.trim() === '' || !Number.isFinite(v)) throw new Error(`--${name}: '${s}' is not a number`);
    return v;
  };
  switch (p.kind) {
    case 'number': return num(raw);
    case 'int': {
      const v = num(raw);
      if (!Number.isInteger(v) || v < 0) throw new Error(`--${name}: '${raw}' is not a non-negative integer`);
      return v;
    }
    case 'list': return raw.split(',').map((s) => {
      const v = num(s);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name}: '${s}' is not a positive integer`);
      return v;
    });
    case 'enum':
      if (!p.values!.includes(raw)) throw new Error(`--${name}: '${raw}' is not one of ${p.values!.join(', ')}`);
      return raw;
  }
}

/** Applies overrides (already parsed); a single lr-step N means every N iterations. */
export function applyOverrides(base: InversionSettings, overrides: Record<string, number | number[] | string>): InversionSettings {
  const s: InversionSettings = { ...base, lrSteps: [...base.lrSteps] };
  for (const [name, value] of Object.entries(overrides)) {
    const p = PARAMETERS[name];
    if (!p) throw new Error(`unknown parameter '${name}'`);
    (s as unknown as Record<string, unknown>)[p.key] = value;
  }
  if ('lr-step' in overrides) {
    const v = overrides['lr-step'] as number[];
    s.lrSteps = v.length === 1 ? Array.from({ length: Math.ceil(s.iterations / v[0]) - 1 }, (_, k) => (k + 1) * v[0]) : v;
  }
  validateSettings(s);
  return s;
}

export function validateSettings(s: InversionSettings): void {
  const bad = (what: string) => { throw new Error(`invalid settings (${s.preset}): ${what}`); };
  if (!Number.isInteger(s.iterations) || s.iterations < 1) bad(`iterations must be a positive integer (got ${s.iterations})`);
  if (!(s.lr > 0)) bad(`lr must be > 0 (got ${s.lr})`);
  if (!(s.momentum >= 0 && s.momentum < 1)) bad(`momentum must be in [0, 1) (got ${s.momentum})`);
  if (!(s.alpha >= 1)) bad(`alpha must be ≥ 1 (got ${s.alpha})`);
  if (!(s.beta > 0)) bad(`beta must be > 0 (got ${s.beta})`);
  if (!(s.lambdaAlpha >= 0) || !(s.lambdaTV >= 0) || !(s.featureWeight > 0)) bad('weights must be ≥ 0 (C > 0)');
  if (!(s.lrDecay > 0)) bad(`lr-decay must be > 0 (got ${s.lrDecay})`);
  if (!(s.initScale > 0)) bad(`init-scale must be > 0 (got ${s.initScale})`);
}

/** The piecewise-constant schedule of one stage as the optimizer kernel wants it. */
export function lrSchedule(lr: number, steps: number[], decay: number, iterations: number): { until: number; lr: number }[] {
  const sorted = [...new Set(steps)].filter((t) => t > 0 && t < iterations).sort((a, b) => a - b);
  const out: { until: number; lr: number }[] = [];
  let v = lr;
  for (const t of sorted) { out.push({ until: t, lr: v }); v *= decay; }
  out.push({ until: iterations, lr: v });
  return out;
}
