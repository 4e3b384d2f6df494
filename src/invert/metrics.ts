// Image similarity for reconstructions: PSNR and SSIM on RGB images in [0,1].

import { checkImage, type RgbImage } from './image.ts';

function checkPair(a: RgbImage, b: RgbImage, where: string): void {
  checkImage(a, `${where} (first image)`);
  checkImage(b, `${where} (second image)`);
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`${where}: images differ in size, ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
}

/** Mean squared error over all pixels and channels (float64 accumulation). */
export function mse(a: RgbImage, b: RgbImage): number {
  return mseIn(a, b, 'mse');
}

function mseIn(a: RgbImage, b: RgbImage, where: string): number {
  checkPair(a, b, where);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    s += d * d;
  }
  return s / a.data.length;
}

/** 10 log10(peak^2 / MSE) in dB; Infinity for identical images. */
export function psnr(a: RgbImage, b: RgbImage, peak = 1): number {
  if (!(peak > 0)) throw new Error(`psnr: peak must be positive, got ${peak}`);
  const m = mseIn(a, b, 'psnr');
  if (Number.isNaN(m)) throw new Error('psnr: an image holds NaN');
  return m === 0 ? Infinity : 10 * Math.log10((peak * peak) / m);
}

export interface SsimOptions {
  /** Gaussian sigma, default 1.5 */
  sigma?: number;
  /** dynamic range of the values, default 1 */
  dataRange?: number;
  k1?: number;
  k2?: number;
}

/**
 * Mean SSIM (Wang et al. 2004), per channel then averaged, as
 * skimage.metrics.structural_similarity(a, b, channel_axis=-1, gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False, data_range=1): separable Gaussian window
 * truncated at 3.5 sigma (11x11 for sigma 1.5), K1 = 0.01, K2 = 0.03, and the mean taken
 * over the pixels whose window lies inside the image (skimage crops (win-1)/2 at each
 * border, so its padding mode never enters the result).
 */
export function ssim(a: RgbImage, b: RgbImage, opts: SsimOptions = {}): number {
  checkPair(a, b, 'ssim');
  const sigma = opts.sigma ?? 1.5;
  const range = opts.dataRange ?? 1;
  const C1 = ((opts.k1 ?? 0.01) * range) ** 2;
  const C2 = ((opts.k2 ?? 0.03) * range) ** 2;
  const r = Math.trunc(3.5 * sigma + 0.5); // scipy.ndimage's radius for truncate=3.5
  const win = 2 * r + 1;
  const { width: W, height: H } = a;
  if (W < win || H < win) {
    throw new Error(`ssim: images are ${W}x${H}, smaller than the ${win}x${win} window`);
  }
  const g = new Float64Array(win);
  let gs = 0;
  for (let i = 0; i < win; i++) gs += g[i] = Math.exp(-0.5 * ((i - r) / sigma) ** 2);
  for (let i = 0; i < win; i++) g[i] /= gs;

  const oW = W - 2 * r, oH = H - 2 * r;
  // horizontal pass of the five moments, then vertical, valid region only
  const hx = new Float64Array(oW * H), hy = new Float64Array(oW * H);
  const hxx = new Float64Array(oW * H), hyy = new Float64Array(oW * H), hxy = new Float64Array(oW * H);
  let total = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < oW; x++) {
        let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        for (let k = 0; k < win; k++) {
          const p = (y * W + x + k) * 3 + c;
          const u = a.data[p], v = b.data[p], w = g[k];
          sx += w * u;
          sy += w * v;
          sxx += w * u * u;
          syy += w * v * v;
          sxy += w * u * v;
        }
        const o = y * oW + x;
        hx[o] = sx; hy[o] = sy; hxx[o] = sxx; hyy[o] = syy; hxy[o] = sxy;
      }
    }
    let sum = 0;
    for (let y = 0; y < oH; y++) {
      for (let x = 0; x < oW; x++) {
        let ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
        for (let k = 0; k < win; k++) {
          const o = (y + k) * oW + x, w = g[k];
          ux += w * hx[o];
          uy += w * hy[o];
          uxx += w * hxx[o];
          uyy += w * hyy[o];
          uxy += w * hxy[o];
        }
        const vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
        sum += ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
      }
    }
    total += sum / (oW * oH);
  }
  const out = total / 3;
  if (Number.isNaN(out)) throw new Error('ssim: an image holds NaN or Infinity');
  return out;
}
