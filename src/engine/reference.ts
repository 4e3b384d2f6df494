// Float64 CPU references for every op and loss term: the oracles the GPU kernels are tested
// against. Written for clarity, not speed. Arrays are flat, NCHW, row-major.
import { poolOutputSize } from './ops/pool.ts';
import { RELU } from '../shaders/pointwise.ts';

export type F64 = Float64Array;
export type Shape4 = [number, number, number, number];

export interface ConvRef { stride: [number, number]; padding: [number, number] }

export function conv2dRef(x: F64, xs: Shape4, w: F64, ws: Shape4, b: F64 | null, p: ConvRef): { y: F64; shape: Shape4 } {
  const [N, C, H, W] = xs; const [OC, , KH, KW] = ws;
  const [SH, SW] = p.stride; const [PH, PW] = p.padding;
  const OH = Math.floor((H + 2 * PH - KH) / SH) + 1, OW = Math.floor((W + 2 * PW - KW) / SW) + 1;
  const y = new Float64Array(N * OC * OH * OW);
  for (let n = 0; n < N; n++) for (let oc = 0; oc < OC; oc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let acc = b ? b[oc] : 0;
    for (let c = 0; c < C; c++) for (let kh = 0; kh < KH; kh++) {
      const ih = oh * SH - PH + kh; if (ih < 0 || ih >= H) continue;
      for (let kw = 0; kw < KW; kw++) {
        const iw = ow * SW - PW + kw; if (iw < 0 || iw >= W) continue;
        acc += x[((n * C + c) * H + ih) * W + iw] * w[((oc * C + c) * KH + kh) * KW + kw];
      }
    }
    y[((n * OC + oc) * OH + oh) * OW + ow] = acc;
  }
  return { y, shape: [N, OC, OH, OW] };
}

/** Gradients of Σ y·gy w.r.t. x, w and b. */
export function conv2dBackwardRef(x: F64, xs: Shape4, w: F64, ws: Shape4, gy: F64, p: ConvRef) {
  const [N, C, H, W] = xs; const [OC, , KH, KW] = ws;
  const [SH, SW] = p.stride; const [PH, PW] = p.padding;
  const OH = Math.floor((H + 2 * PH - KH) / SH) + 1, OW = Math.floor((W + 2 * PW - KW) / SW) + 1;
  const gx = new Float64Array(x.length), gw = new Float64Array(w.length), gb = new Float64Array(OC);
  for (let n = 0; n < N; n++) for (let oc = 0; oc < OC; oc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const g = gy[((n * OC + oc) * OH + oh) * OW + ow];
    gb[oc] += g;
    for (let c = 0; c < C; c++) for (let kh = 0; kh < KH; kh++) {
      const ih = oh * SH - PH + kh; if (ih < 0 || ih >= H) continue;
      for (let kw = 0; kw < KW; kw++) {
        const iw = ow * SW - PW + kw; if (iw < 0 || iw >= W) continue;
        const xi = ((n * C + c) * H + ih) * W + iw, wi = ((oc * C + c) * KH + kh) * KW + kw;
        gx[xi] += g * w[wi];
        gw[wi] += g * x[xi];
      }
    }
  }
  return { gx, gw, gb };
}

export function batchNormRef(x: F64, xs: Shape4, gamma: F64, beta: F64, mean: F64, variance: F64, eps: number, gy?: F64) {
  const [N, C, H, W] = xs; const hw = H * W;
  const y = new Float64Array(x.length), gx = new Float64Array(x.length), gg = new Float64Array(C), gbt = new Float64Array(C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const inv = 1 / Math.sqrt(variance[c] + eps);
    for (let k = 0; k < hw; k++) {
      const i = (n * C + c) * hw + k;
      const xhat = (x[i] - mean[c]) * inv;
      y[i] = xhat * gamma[c] + beta[c];
      if (gy) { gx[i] = gy[i] * gamma[c] * inv; gg[c] += gy[i] * xhat; gbt[c] += gy[i]; }
    }
  }
  return { y, gx, gGamma: gg, gBeta: gbt };
}

export function reluRef(x: F64, gy?: F64) {
  return { y: x.map(RELU.reference), gx: gy ? x.map((v, i) => RELU.referenceGradient(v, gy[i])) : new Float64Array(0) };
}

export interface PoolRef { kernel: [number, number]; stride: [number, number]; padding: [number, number]; ceilMode: boolean }

export function maxPoolRef(x: F64, xs: Shape4, p: PoolRef, gy?: F64) {
  const [N, C, H, W] = xs; const [KH, KW] = p.kernel; const [SH, SW] = p.stride; const [PH, PW] = p.padding;
  const OH = poolOutputSize(H, KH, SH, PH, p.ceilMode), OW = poolOutputSize(W, KW, SW, PW, p.ceilMode);
  const y = new Float64Array(N * C * OH * OW), gx = new Float64Array(x.length);
  for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let best = -Infinity, arg = -1;
    for (let kh = 0; kh < KH; kh++) {
      const ih = oh * SH - PH + kh; if (ih < 0 || ih >= H) continue;
      for (let kw = 0; kw < KW; kw++) {
        const iw = ow * SW - PW + kw; if (iw < 0 || iw >= W) continue;
        const v = x[(pl * H + ih) * W + iw];
        if (arg < 0 || v > best) { best = v; arg = (pl * H + ih) * W + iw; }
      }
    }
    const o = (pl * OH + oh) * OW + ow;
    y[o] = best;
    if (gy) gx[arg] += gy[o];
  }
  return { y, gx, shape: [N, C, OH, OW] as Shape4 };
}

export function adaptiveAvgPoolRef(x: F64, xs: Shape4, out: [number, number], gy?: F64) {
  const [N, C, H, W] = xs; const [OH, OW] = out;
  const y = new Float64Array(N * C * OH * OW), gx = new Float64Array(x.length);
  for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const h0 = Math.floor((oh * H) / OH), h1 = Math.ceil(((oh + 1) * H) / OH);
    const w0 = Math.floor((ow * W) / OW), w1 = Math.ceil(((ow + 1) * W) / OW);
    const cnt = (h1 - h0) * (w1 - w0);
    const o = (pl * OH + oh) * OW + ow;
    let acc = 0;
    for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) {
      acc += x[(pl * H + ih) * W + iw];
      if (gy) gx[(pl * H + ih) * W + iw] += gy[o] / cnt;
    }
    y[o] = acc / cnt;
  }
  return { y, gx, shape: [N, C, OH, OW] as Shape4 };
}

export function linearRef(x: F64, N: number, I: number, w: F64, O: number, b: F64 | null, gy?: F64) {
  const y = new Float64Array(N * O), gx = new Float64Array(N * I), gw = new Float64Array(O * I), gb = new Float64Array(O);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
    let acc = b ? b[o] : 0;
    for (let i = 0; i < I; i++) acc += x[n * I + i] * w[o * I + i];
    y[n * O + o] = acc;
    if (gy) {
      const g = gy[n * O + o];
      gb[o] += g;
      for (let i = 0; i < I; i++) { gx[n * I + i] += g * w[o * I + i]; gw[o * I + i] += g * x[n * I + i]; }
    }
  }
  return { y, gx, gw, gb };
}

/** ||f − t||² / ||t||² per sample (t of batch 1 or N) and its gradient w.r.t. f. */
export function featureDistanceRef(f: F64, t: F64, N: number, tN: number) {
  const per = f.length / N;
  const values: number[] = [], g = new Float64Array(f.length);
  for (let n = 0; n < N; n++) {
    const tb = (n % tN) * per;
    let norm = 0, d2 = 0;
    for (let k = 0; k < per; k++) norm += t[tb + k] ** 2;
    for (let k = 0; k < per; k++) { const d = f[n * per + k] - t[tb + k]; d2 += d * d; g[n * per + k] = (2 * d) / norm; }
    values.push(d2 / norm);
  }
  return { values, grad: g };
}

export function alphaNormRef(x: F64, N: number, alpha: number) {
  const per = x.length / N;
  const values: number[] = [], g = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = n * per; k < (n + 1) * per; k++) {
      const a = Math.abs(x[k]);
      s += a ** alpha;
      g[k] = a > 0 ? alpha * a ** (alpha - 1) * Math.sign(x[k]) : 0;
    }
    values.push(s);
  }
  return { values, grad: g };
}

export function pixelAlphaNormRef(x: F64, xs: Shape4, alpha: number) {
  const [N, C, H, W] = xs; const hw = H * W;
  const values: number[] = [], g = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    let total = 0;
    for (let p = 0; p < hw; p++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += x[(n * C + c) * hw + p] ** 2;
      total += s ** (alpha / 2);
      const f = s > 0 ? alpha * s ** (alpha / 2 - 1) : 0;
      for (let c = 0; c < C; c++) g[(n * C + c) * hw + p] = f * x[(n * C + c) * hw + p];
    }
    values.push(total);
  }
  return { values, grad: g };
}

/** TV with replicated border: Σ (dx² + dy²)^(β/2), dx/dy zero past the last column/row. */
export function totalVariationRef(x: F64, xs: Shape4, beta: number) {
  const [N, C, H, W] = xs;
  const values: number[] = [], g = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    let total = 0;
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * H * W;
      for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
        const at = base + i * W + j;
        const dx = j + 1 < W ? x[at + 1] - x[at] : 0;
        const dy = i + 1 < H ? x[at + W] - x[at] : 0;
        const s = dx * dx + dy * dy;
        total += s ** (beta / 2);
        const slope = s > 0 ? beta * s ** (beta / 2 - 1) : 0;
        g[at] -= slope * (dx + dy);
        if (j + 1 < W) g[at + 1] += slope * dx;
        if (i + 1 < H) g[at + W] += slope * dy;
      }
    }
    values.push(total);
  }
  return { values, grad: g };
}

/** Relative L2 error ||a − b|| / ||b||; NaN anywhere gives Infinity, so NaN never passes. */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeL2: lengths differ (${a.length} vs ${b.length})`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) return Infinity;
    num += d * d; den += b[i] * b[i];
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}
