// One inversion: find x whose features at a tap match a target image's (Mahendran & Vedaldi).
// The target features are computed once; each stage's iteration (jitter crop → pixel-space
// transform → network → fused loss terms → backward → SGD → box constraint) is recorded once
// as a Plan and replayed. The objective is read back every `readEvery` iterations only.
import type { Gpu } from '../engine/gpu.ts';
import { Tape } from '../engine/tape.ts';
import { Tensor } from '../engine/tensor.ts';
import { Plan, type Readback } from '../engine/plan.ts';
import { batchNorm2d } from '../engine/ops/batchnorm.ts';
import { featureTarget, objective, readObjective, type FeatureTarget, type LossTerm } from '../engine/ops/losses.ts';
import { SgdState, sgdStep } from '../engine/ops/optimizer.ts';
import { boundColourNorm, crop, cropOffset } from '../engine/ops/inversion.ts';
import { gaussian, mulberry32 } from '../engine/random.ts';
import { forwardTo, type LoadedModel } from '../models/network.ts';
import { resolveTap, tapInfo } from '../models/taps.ts';
import { IMAGENET_MEAN, IMAGENET_STD, fromNormalizedCHW, type DisplayMode, type RgbImage } from './image.ts';
import { lrSchedule, validateSettings, type InversionSettings } from './settings.ts';
import { psnr, ssim } from './metrics.ts';

export const TERM_NAMES = ['feature', 'alpha', 'tv'] as const;

export interface LossPoint {
  /** Global 0-based iteration (stages counted one after another). */
  iteration: number;
  total: number;
  feature: number;
  alpha: number;
  tv: number;
}

export interface Progress {
  iteration: number;
  totalIterations: number;
  last: LossPoint | null;
  secondsPerIteration: number;
}

export interface InversionMetrics {
  featureError: number; psnr: number; ssim: number;
  secondsPerIteration: number; iterations: number; warmupSeconds: number;
}

export interface InversionOptions {
  model: LoadedModel;
  tap: string;
  /** Target image, [3, H, W] ImageNet-normalised (torchvision preprocessing). */
  target: Float32Array;
  height: number;
  width: number;
  settings: InversionSettings;
  /** Fixed initial image in the normalised space (optional; otherwise seeded noise per the settings). */
  initial?: Float32Array;
  /** Objective readback interval (default 10). */
  readEvery?: number;
  iterationsPerSubmit?: number;
}

interface Stage { iterations: number; lr: number; jitter: number; steps: number[]; decay: number }

export class DivergedError extends Error {
  constructor(readonly iteration: number, readonly point: LossPoint) {
    super(`diverged at iteration ${iteration} (objective ${point.total})`);
  }
}

/** Per-channel scale from the optimisation space to the network's normalised input. */
function spaceScale(s: InversionSettings): number[] {
  return s.pixelSpace === 'caffe' ? IMAGENET_STD.map((sd) => 1 / (255 * sd)) : [1, 1, 1];
}

export class Inversion {
  readonly gpu: Gpu;
  readonly opts: InversionOptions;
  readonly settings: InversionSettings;
  readonly jitter: number;
  readonly history: LossPoint[] = [];
  readonly stages: Stage[];
  /** Seconds spent in iterations (not in set-up). */
  iterationSeconds = 0;
  /** Seconds from create() to the end of the first submitted iteration. */
  warmupSeconds = 0;
  private readonly createdAt = performance.now();
  private target!: FeatureTarget;
  private targetTape!: Tape;
  private affine: { gamma: Tensor; beta: Tensor; mean: Tensor; variance: Tensor } | null = null;
  private stageIndex = -1;
  private stageStart = 0;
  private x: Tensor | null = null;
  private tape: Tape | null = null;
  private plan: Plan | null = null;
  private state: SgdState | null = null;
  private firstTotal: number | null = null;
  private done = 0;

  private constructor(gpu: Gpu, opts: InversionOptions) {
    validateSettings(opts.settings);
    resolveTap(opts.model.name, opts.tap);
    if (opts.target.length !== 3 * opts.height * opts.width) {
      throw new Error(`inversion: target has ${opts.target.length} values, expected 3×${opts.height}×${opts.width}`);
    }
    this.gpu = gpu;
    this.opts = opts;
    this.settings = opts.settings;
    const s = opts.settings;
    const tap = tapInfo(opts.model.name, opts.tap, [1, 3, opts.height, opts.width]);
    this.jitter = s.jitter > 0 ? s.jitter : Math.max(Math.round(tap.stride / 4), 1);
    this.stages = [{ iterations: s.iterations, lr: s.lr, jitter: this.jitter, steps: s.lrSteps, decay: s.lrDecay }];
    if (s.refineIterations > 0) this.stages.push({ iterations: s.refineIterations, lr: s.lr * s.refineLrScale, jitter: 1, steps: [], decay: 1 });
  }

  static async create(gpu: Gpu, opts: InversionOptions): Promise<Inversion> {
    const inv = new Inversion(gpu, opts);
    await inv.prepareTarget();
    await inv.enterStage(0, null);
    return inv;
  }

  get totalIterations(): number { return this.stages.reduce((a, s) => a + s.iterations, 0); }
  get iteration(): number { return this.done; }

  private async prepareTarget(): Promise<void> {
    const { gpu, opts } = this;
    const s = this.settings;
    if (s.pixelSpace === 'caffe') {
      const keep = (label: string, data: number[]) => new Tensor([3], gpu.upload(label, new Float32Array(data)), label);
      this.affine = {
        gamma: keep('caffe→normalised scale', spaceScale(s)), beta: keep('caffe→normalised shift', [0, 0, 0]),
        mean: keep('caffe→normalised mean', [0, 0, 0]), variance: keep('caffe→normalised var', [1, 1, 1]),
      };
    }
    const tape = new Tape(gpu, { label: 'target features' });
    const img = tape.constant([1, 3, opts.height, opts.width], opts.target, 'target image');
    const phi0 = tape.detach(forwardTo(tape, opts.model, img, opts.tap));
    this.target = featureTarget(tape, phi0);
    await tape.run();
    const norm = new Float32Array(await gpu.readBuffer(this.target.normSq, 4, '‖Φ0‖²'))[0];
    if (!(norm > 0) || !Number.isFinite(norm)) {
      throw new Error(`inversion: the target's features at ${opts.tap} are ${norm === 0 ? 'all zero' : `not finite (‖Φ0‖² = ${norm})`}; choose another layer or image`);
    }
    this.targetTape = tape;
  }

  /** The network input for a variable in the optimisation space. */
  private toNetwork(tape: Tape, x: Tensor): Tensor {
    if (!this.affine) return x;
    const a = this.affine;
    return batchNorm2d(tape, x, { gamma: a.gamma, beta: a.beta, runningMean: a.mean, runningVar: a.variance, eps: 0 }, 'pixel space');
  }

  /** Initial variable of stage 0 in the optimisation space, [3, BH, BW]. */
  private initialData(BH: number, BW: number): Float32Array {
    const s = this.settings;
    const n = 3 * BH * BW;
    if (this.opts.initial) {
      if (this.opts.initial.length !== n) throw new Error(`inversion: initial image has ${this.opts.initial.length} values, expected 3×${BH}×${BW}`);
      const scale = spaceScale(s);
      return this.opts.initial.map((v, i) => v / scale[Math.floor(i / (BH * BW))]);
    }
    const next = mulberry32(s.seed * 2654435761 + 12345);
    if (s.init === 'gaussian') return gaussian(next, n).map((v) => v * s.initScale);
    if (s.init === 'gaussian-norm') {
      const g = gaussian(next, n);
      let ss = 0;
      for (const v of g) ss += v * v;
      const target = s.initScale * Math.sqrt((BH * BW) / (224 * 224));
      return g.map((v) => (v / Math.sqrt(ss)) * target);
    }
    const u = new Float32Array(n).map(() => 2 * next() - 1);
    const sorted = Float32Array.from(u).sort();
    const q95 = sorted[Math.min(n - 1, Math.floor(0.95 * (n - 1)))];
    return u.map((v) => (v / q95) * s.initScale);
  }

  private async enterStage(k: number, from: Float32Array | null): Promise<void> {
    this.disposeStage();
    const { gpu, opts } = this;
    const s = this.settings;
    const st = this.stages[k];
    const J = st.jitter;
    const BH = opts.height + J - 1, BW = opts.width + J - 1;
    const data = from ?? this.initialData(BH, BW);
    const x = new Tensor([1, 3, BH, BW], gpu.upload(`image (stage ${k + 1})`, data), 'image', true);
    const tape = new Tape(gpu, { label: `inversion ${opts.model.name} ${opts.tap} stage ${k + 1}` });
    const pixels = opts.height * opts.width;
    const lr = st.lr * (s.lrPerPixel ? pixels : 1);
    const state = new SgdState(tape, x, {
      schedule: lrSchedule(lr, st.steps, st.decay, st.iterations), momentum: s.momentum, style: s.momentumStyle, rho: s.momentum,
    });
    const offset = J > 1 ? cropOffset(tape, state.step, { amount: J, seed: s.seed }) : null;
    const seen = offset ? crop(tape, x, opts.height, opts.width, offset) : x;
    const phi = forwardTo(tape, opts.model, this.toNetwork(tape, seen), opts.tap);
    const P = s.normalizeByPixels ? BH * BW : 1;
    const terms: LossTerm[] = [
      { kind: 'feature_distance', features: phi, target: this.target, weight: s.featureWeight },
      s.alphaMode === 'pixel'
        ? { kind: 'pixel_alpha_norm', x, alpha: s.alpha, weight: s.lambdaAlpha / P }
        : { kind: 'alpha_norm', x, alpha: s.alpha, weight: s.lambdaAlpha / P },
      { kind: 'total_variation', x, beta: s.beta, weight: s.lambdaTV / P },
    ];
    const obj = objective(tape, terms, [...TERM_NAMES]);
    tape.backward();
    sgdStep(tape, x, state);
    if (s.bound > 0) boundColourNorm(tape, x, s.bound);
    this.x = x; this.tape = tape; this.state = state; this.plan = new Plan(tape, obj);
    this.stageIndex = k;
    this.stageStart = this.done;
  }

  private disposeStage(): void {
    this.plan?.destroy(); this.tape?.dispose(); this.state?.destroy(); this.x?.buffer.destroy();
    this.plan = null; this.tape = null; this.state = null; this.x = null;
  }

  /** The stage's variable cropped to the network's size (centre of the jitter margin), [3, H, W], optimisation space. */
  private async centreCrop(): Promise<Float32Array> {
    const x = this.x!;
    const [, , BH, BW] = x.shape;
    const { height: H, width: W } = this.opts;
    const all = new Float32Array(await this.gpu.readBuffer(x.buffer, x.bytes, 'image'));
    if (BH === H && BW === W) return all;
    const dy = Math.floor((BH - H) / 2), dx = Math.floor((BW - W) / 2);
    const out = new Float32Array(3 * H * W);
    for (let c = 0; c < 3; c++) for (let i = 0; i < H; i++) {
      out.set(all.subarray((c * BH + i + dy) * BW + dx, (c * BH + i + dy) * BW + dx + W), (c * H + i) * W);
    }
    return out;
  }

  /**
   * Runs `count` more iterations (crossing into the next stage when one ends). Throws
   * DivergedError at the first readback with a non-finite or exploding objective.
   */
  async step(count: number, onProgress?: (p: Progress) => void): Promise<void> {
    let left = Math.min(count, this.totalIterations - this.done);
    while (left > 0) {
      const st = this.stages[this.stageIndex];
      const inStage = this.done - this.stageStart;
      if (inStage >= st.iterations) {
        const next = await this.centreCrop();
        await this.enterStage(this.stageIndex + 1, next);
        continue;
      }
      // The very first iteration runs alone, so warm-up (create → first iteration done) is measured exactly.
      const n = this.done === 0 ? 1 : Math.min(left, st.iterations - inStage);
      const t0 = performance.now();
      const base = this.stageStart;
      await this.plan!.run(n, {
        readEvery: this.opts.readEvery ?? 10,
        iterationsPerSubmit: this.opts.iterationsPerSubmit ?? 10,
        onProgress: (doneInStage, reads) => {
          if (this.warmupSeconds === 0) this.warmupSeconds = (performance.now() - this.createdAt) / 1000;
          for (const r of reads) this.record(base + r.iteration, r);
          const it = base + doneInStage;
          onProgress?.({ iteration: it, totalIterations: this.totalIterations, last: this.history.at(-1) ?? null,
            secondsPerIteration: (this.iterationSeconds + (performance.now() - t0) / 1000) / Math.max(1, it) });
        },
      });
      this.iterationSeconds += (performance.now() - t0) / 1000;
      this.done += n;
      left -= n;
    }
  }

  private record(iteration: number, r: Readback): void {
    const v = r.perSample[0];
    const p: LossPoint = { iteration, total: v.total, feature: v.terms[0], alpha: v.terms[1], tv: v.terms[2] };
    this.history.push(p);
    const finite = [p.total, p.feature, p.alpha, p.tv].every(Number.isFinite);
    this.firstTotal ??= p.total;
    if (!finite || Math.abs(p.total) > 1e6 * Math.max(Math.abs(this.firstTotal), 1e-30)) throw new DivergedError(iteration, p);
  }

  async run(onProgress?: (p: Progress) => void): Promise<void> {
    await this.step(this.totalIterations - this.done, onProgress);
  }

  /** The current result in the normalised space, [3, H, W]. */
  async resultNormalized(): Promise<Float32Array> {
    const x = await this.centreCrop();
    const scale = spaceScale(this.settings);
    const hw = this.opts.height * this.opts.width;
    return x.map((v, i) => v * scale[Math.floor(i / hw)]);
  }

  async image(mode: DisplayMode = 'clip'): Promise<RgbImage> {
    return fromNormalizedCHW(await this.resultNormalized(), this.opts.width, this.opts.height, IMAGENET_MEAN, IMAGENET_STD, mode);
  }

  /** ‖Φ(x) − Φ0‖²/‖Φ0‖² at the current result (centre crop, no jitter). */
  async featureError(): Promise<number> {
    const tape = new Tape(this.gpu, { label: 'feature error' });
    const img = tape.constant([1, 3, this.opts.height, this.opts.width], await this.resultNormalized(), 'result');
    const phi = forwardTo(tape, this.opts.model, img, this.opts.tap);
    const o = objective(tape, [{ kind: 'feature_distance', features: phi, target: this.target, weight: 1 }]);
    const v = (await readObjective(tape, o))[0].terms[0];
    tape.dispose();
    return v;
  }

  /**
   * The run's metrics: feature error at the current result, PSNR and SSIM of the clipped
   * result against `original` (the preprocessed photo, RGB in [0, 1]), and timings.
   */
  async metrics(original: RgbImage): Promise<InversionMetrics> {
    const clipped = await this.image('clip');
    return {
      featureError: await this.featureError(), psnr: psnr(clipped, original), ssim: ssim(clipped, original),
      secondsPerIteration: this.iterationSeconds / Math.max(1, this.done), iterations: this.done, warmupSeconds: this.warmupSeconds,
    };
  }

  destroy(): void {
    this.disposeStage();
    this.target?.normSq.destroy();
    this.targetTape?.dispose();
    if (this.target) this.gpu.release(this.target.features.buffer);
    if (this.affine) for (const t of Object.values(this.affine)) t.buffer.destroy();
  }
}
