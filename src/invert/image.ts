// RGB images as float arrays, and the torchvision/PIL preprocessing used by the
// pretrained ImageNet models (Resize(256), CenterCrop(224), ToTensor, Normalize).
//
// Layout: HWC, interleaved RGB, row-major with the top row first, values nominally in
// [0, 1] (float32). HWC because decoders, PNG encoders and the grid all work
// pixel-by-pixel; the network side gets CHW from toNormalizedCHW.

export interface RgbImage {
  width: number;
  height: number;
  /** length width*height*3, index (y*width + x)*3 + c, c = 0 R, 1 G, 2 B */
  data: Float32Array;
}

export type Rgb = readonly [number, number, number];

export const IMAGENET_MEAN: Rgb = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Rgb = [0.229, 0.224, 0.225];

export function createImage(width: number, height: number, fill: Rgb = [0, 0, 0]): RgbImage {
  checkSize(width, height, 'createImage');
  const data = new Float32Array(width * height * 3);
  if (fill[0] !== 0 || fill[1] !== 0 || fill[2] !== 0) {
    for (let i = 0; i < data.length; i += 3) {
      data[i] = fill[0];
      data[i + 1] = fill[1];
      data[i + 2] = fill[2];
    }
  }
  return { width, height, data };
}

/** Throws unless img is a well-formed RgbImage; `where` names the caller in the message. */
export function checkImage(img: RgbImage, where: string): void {
  checkSize(img.width, img.height, where);
  if (!(img.data instanceof Float32Array)) {
    throw new Error(`${where}: image data must be a Float32Array (HWC RGB)`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(
      `${where}: image data has length ${img.data.length}, expected ${img.width}x${img.height}x3 = ${img.width * img.height * 3}`,
    );
  }
}

function checkSize(w: number, h: number, where: string): void {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new Error(`${where}: image size must be positive integers, got ${w}x${h}`);
  }
}

// ---------------------------------------------------------------------------------------
// Resize: PIL's Image.resize(size, Image.BILINEAR), which torchvision uses on PIL images.
//
// PIL's "bilinear" is a triangle filter whose support grows with the downscale factor
// (so it antialiases), applied separably: horizontal pass first, then vertical, each pass
// skipped when that dimension does not change (libImaging/Resample.c). Two variants:
//  - float (default): like PIL on mode "F" images, double weights, float32 intermediate.
//  - quantize: true: bit-exact emulation of PIL on 8-bit RGB: input rounded to uint8,
//    22-bit fixed-point weights, the intermediate and the output rounded to uint8.
//    This is what torchvision's ToTensor sees, so preprocess uses it.

export interface ResizeOptions {
  /** emulate PIL's 8-bit path exactly (values become k/255); default false */
  quantize?: boolean;
}

interface Coeffs {
  ksize: number;
  /** per output index: first input index and count */
  bounds: Int32Array;
  /** outSize*ksize normalised weights */
  kk: Float64Array;
}

// Mirrors precompute_coeffs() in Pillow's Resample.c, operation for operation, so the
// weights are bit-identical to PIL's.
function precomputeCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1.0 * filterscale; // bilinear filter support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = 0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const base = xx * ksize;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const w = t < 1 ? 1 - t : 0;
      kk[base + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) kk[base + x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

const PRECISION_BITS = 32 - 8 - 2;

function fixedPointCoeffs(c: Coeffs): Int32Array {
  const out = new Int32Array(c.kk.length);
  const one = 1 << PRECISION_BITS;
  for (let i = 0; i < c.kk.length; i++) {
    const v = c.kk[i];
    out[i] = v < 0 ? Math.trunc(-0.5 + v * one) : Math.trunc(0.5 + v * one);
  }
  return out;
}

function clip8(v: number): number {
  if (v >= 1 << PRECISION_BITS << 8) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

// The pass functions work on HWC buffers with 3 channels; `Buf` is Float32Array for the
// float path and Uint8Array for the 8-bit path.
function horizontalFloat(src: Float32Array, w: number, h: number, outW: number, c: Coeffs): Float32Array {
  const dst = new Float32Array(outW * h * 3);
  const { ksize, bounds, kk } = c;
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], base = xx * ksize;
      let s0 = 0, s1 = 0, s2 = 0;
      for (let x = 0; x < xmax; x++) {
        const k = kk[base + x], p = row + (x + xmin) * 3;
        s0 += src[p] * k;
        s1 += src[p + 1] * k;
        s2 += src[p + 2] * k;
      }
      const o = (y * outW + xx) * 3;
      dst[o] = s0;
      dst[o + 1] = s1;
      dst[o + 2] = s2;
    }
  }
  return dst;
}

function verticalFloat(src: Float32Array, w: number, outH: number, c: Coeffs): Float32Array {
  const dst = new Float32Array(w * outH * 3);
  const { ksize, bounds, kk } = c;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1], base = yy * ksize;
    for (let x = 0; x < w; x++) {
      let s0 = 0, s1 = 0, s2 = 0;
      for (let y = 0; y < ymax; y++) {
        const k = kk[base + y], p = ((y + ymin) * w + x) * 3;
        s0 += src[p] * k;
        s1 += src[p + 1] * k;
        s2 += src[p + 2] * k;
      }
      const o = (yy * w + x) * 3;
      dst[o] = s0;
      dst[o + 1] = s1;
      dst[o + 2] = s2;
    }
  }
  return dst;
}

function horizontal8(src: Uint8Array, w: number, h: number, outW: number, c: Coeffs): Uint8Array {
  const dst = new Uint8Array(outW * h * 3);
  const { ksize, bounds } = c;
  const kk = fixedPointCoeffs(c);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], base = xx * ksize;
      let s0 = half, s1 = half, s2 = half;
      for (let x = 0; x < xmax; x++) {
        const k = kk[base + x], p = row + (x + xmin) * 3;
        s0 += src[p] * k;
        s1 += src[p + 1] * k;
        s2 += src[p + 2] * k;
      }
      const o = (y * outW + xx) * 3;
      dst[o] = clip8(s0);
      dst[o + 1] = clip8(s1);
      dst[o + 2] = clip8(s2);
    }
  }
  return dst;
}

function vertical8(src: Uint8Array, w: number, outH: number, c: Coeffs): Uint8Array {
  const dst = new Uint8Array(w * outH * 3);
  const { ksize, bounds } = c;
  const kk = fixedPointCoeffs(c);
  const half = 1 << (PRECISION_BITS - 1);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1], base = yy * ksize;
    for (let x = 0; x < w; x++) {
      let s0 = half, s1 = half, s2 = half;
      for (let y = 0; y < ymax; y++) {
        const k = kk[base + y], p = ((y + ymin) * w + x) * 3;
        s0 += src[p] * k;
        s1 += src[p + 1] * k;
        s2 += src[p + 2] * k;
      }
      const o = (yy * w + x) * 3;
      dst[o] = clip8(s0);
      dst[o + 1] = clip8(s1);
      dst[o + 2] = clip8(s2);
    }
  }
  return dst;
}

/** Rounds [0,1] floats to bytes the way an 8-bit image would hold them (clamped). */
export function toBytes(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = img.data[i];
    if (Number.isNaN(v)) {
      const p = Math.floor(i / 3);
      throw new Error(
        `toBytes: pixel (${p % img.width}, ${Math.floor(p / img.width)}) channel ${i % 3} is NaN`,
      );
    }
    out[i] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
  }
  return out;
}

export function fromBytes(bytes: Uint8Array, width: number, height: number): RgbImage {
  checkSize(width, height, 'fromBytes');
  if (bytes.length !== width * height * 3) {
    throw new Error(`fromBytes: got ${bytes.length} bytes, expected ${width}x${height}x3`);
  }
  const data = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) data[i] = bytes[i] / 255;
  return { width, height, data };
}

/** Values rounded to the nearest k/255, as converting to an 8-bit PIL image would. */
export function quantize8(img: RgbImage): RgbImage {
  checkImage(img, 'quantize8');
  return fromBytes(toBytes(img), img.width, img.height);
}

export function resize(img: RgbImage, width: number, height: number, opts: ResizeOptions = {}): RgbImage {
  checkImage(img, 'resize');
  checkSize(width, height, 'resize (target)');
  const needH = width !== img.width;
  const needV = height !== img.height;
  if (opts.quantize) {
    let buf = toBytes(img);
    if (needH) buf = horizontal8(buf, img.width, img.height, width, precomputeCoeffs(img.width, width));
    if (needV) buf = vertical8(buf, width, height, precomputeCoeffs(img.height, height));
    return fromBytes(buf, width, height);
  }
  let buf = img.data;
  if (needH) buf = horizontalFloat(buf, img.width, img.height, width, precomputeCoeffs(img.width, width));
  if (needV) buf = verticalFloat(buf, width, height, precomputeCoeffs(img.height, height));
  return { width, height, data: buf === img.data ? img.data.slice() : buf };
}

/**
 * Output size of torchvision's Resize(size) for a (width, height) image: the shorter side
 * becomes `size`, the longer int(size * long / short) (truncated, as torchvision does).
 */
export function shorterSideSize(width: number, height: number, size: number): [number, number] {
  checkSize(width, height, 'shorterSideSize');
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`shorterSideSize: size must be a positive integer, got ${size}`);
  }
  const short = Math.min(width, height), long = Math.max(width, height);
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? [size, newLong] : [newLong, size];
}

export function resizeShorterSide(img: RgbImage, size: number, opts: ResizeOptions = {}): RgbImage {
  checkImage(img, 'resizeShorterSide');
  const [w, h] = shorterSideSize(img.width, img.height, size);
  return resize(img, w, h, opts);
}

// Python's round(): halves go to the even neighbour (torchvision uses it for the offsets).
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * torchvision's CenterCrop((height, width)): offsets int(round((H - h) / 2)) with Python's
 * round; a crop larger than the image first zero-pads it (left/top get the floor half),
 * as torchvision does.
 */
export function centerCrop(img: RgbImage, width: number, height: number): RgbImage {
  checkImage(img, 'centerCrop');
  checkSize(width, height, 'centerCrop (target)');
  let src = img;
  if (width > img.width || height > img.height) {
    const padL = width > img.width ? Math.floor((width - img.width) / 2) : 0;
    const padT = height > img.height ? Math.floor((height - img.height) / 2) : 0;
    const pw = Math.max(width, img.width), ph = Math.max(height, img.height);
    src = createImage(pw, ph);
    for (let y = 0; y < img.height; y++) {
      src.data.set(
        img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3),
        ((y + padT) * pw + padL) * 3,
      );
    }
  }
  const top = roundHalfEven((src.height - height) / 2);
  const left = roundHalfEven((src.width - width) / 2);
  const out = createImage(width, height);
  for (let y = 0; y < height; y++) {
    const s = ((y + top) * src.width + left) * 3;
    out.data.set(src.data.subarray(s, s + width * 3), y * width * 3);
  }
  return out;
}

/** HWC [0,1] image to the network input: CHW float32, (x - mean[c]) / std[c]. */
export function toNormalizedCHW(img: RgbImage, mean: Rgb = IMAGENET_MEAN, std: Rgb = IMAGENET_STD): Float32Array {
  checkImage(img, 'toNormalizedCHW');
  checkMeanStd(mean, std, 'toNormalizedCHW');
  const n = img.width * img.height;
  const out = new Float32Array(n * 3);
  for (let c = 0; c < 3; c++) {
    // float32 arithmetic like torch's sub_/div_ on a float tensor
    const m = Math.fround(mean[c]), s = Math.fround(std[c]);
    for (let i = 0; i < n; i++) out[c * n + i] = Math.fround(Math.fround(img.data[i * 3 + c] - m) / s);
  }
  return out;
}

export type DisplayMode = 'clip' | 'minmax';

/**
 * Network-space CHW tensor back to a displayable image: x * std + mean, then either
 * clipped to [0,1] ('clip') or rescaled so the global min/max over all three channels map
 * to 0/1 ('minmax', how Mahendran & Vedaldi display pre-images; a constant image becomes
 * 0.5 grey). Throws on NaN/Infinity so a diverged result is never shown as a picture.
 */
export function fromNormalizedCHW(
  chw: Float32Array,
  width: number,
  height: number,
  mean: Rgb = IMAGENET_MEAN,
  std: Rgb = IMAGENET_STD,
  mode: DisplayMode = 'clip',
): RgbImage {
  checkSize(width, height, 'fromNormalizedCHW');
  checkMeanStd(mean, std, 'fromNormalizedCHW');
  const n = width * height;
  if (chw.length !== n * 3) {
    throw new Error(`fromNormalizedCHW: tensor has ${chw.length} values, expected 3x${height}x${width} = ${n * 3}`);
  }
  if (mode !== 'clip' && mode !== 'minmax') {
    throw new Error(`fromNormalizedCHW: mode must be 'clip' or 'minmax', got '${String(mode)}'`);
  }
  const out = createImage(width, height);
  let lo = Infinity, hi = -Infinity;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const x = chw[c * n + i];
      if (!Number.isFinite(x)) {
        throw new Error(`fromNormalizedCHW: value at channel ${c}, y ${Math.floor(i / width)}, x ${i % width} is ${x}`);
      }
      const v = Math.fround(x * std[c] + mean[c]); // min/max of what is stored
      out.data[i * 3 + c] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const d = out.data;
  if (mode === 'clip') {
    for (let i = 0; i < d.length; i++) d[i] = d[i] < 0 ? 0 : d[i] > 1 ? 1 : d[i];
  } else if (hi > lo) {
    const inv = 1 / (hi - lo);
    for (let i = 0; i < d.length; i++) d[i] = Math.min(1, Math.max(0, (d[i] - lo) * inv));
  } else {
    d.fill(0.5);
  }
  return out;
}

function checkMeanStd(mean: Rgb, std: Rgb, where: string): void {
  if (mean.length !== 3 || std.length !== 3) {
    throw new Error(`${where}: mean and std need 3 values each, got ${mean.length} and ${std.length}`);
  }
  for (let c = 0; c < 3; c++) {
    if (!Number.isFinite(mean[c]) || !Number.isFinite(std[c]) || std[c] === 0) {
      throw new Error(`${where}: bad mean/std for channel ${c}: mean ${mean[c]}, std ${std[c]}`);
    }
  }
}

export interface PreprocessOptions {
  /** shorter side after resizing (torchvision Resize(int)); null skips the resize. Default 256 */
  resize?: number | null;
  /** square center crop (CenterCrop(int)). Default 224 */
  crop?: number;
  mean?: Rgb;
  std?: Rgb;
  /**
   * Treat the image as 8-bit like a PIL image and resize with PIL's 8-bit arithmetic, so
   * the result matches torchvision on PIL images exactly. Default true; false keeps
   * float precision throughout (for 16-bit sources or synthetic inputs).
   */
  quantize?: boolean;
}

/**
 * Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std) as torchvision does on a
 * PIL RGB image. Returns the CHW float32 tensor, 3*crop*crop values.
 */
export function preprocess(img: RgbImage, opts: PreprocessOptions = {}): Float32Array {
  checkImage(img, 'preprocess');
  const size = opts.resize === undefined ? 256 : opts.resize;
  const crop = opts.crop ?? 224;
  const quantize = opts.quantize ?? true;
  let x = quantize ? quantize8(img) : img;
  if (size !== null) x = resizeShorterSide(x, size, { quantize });
  x = centerCrop(x, crop, crop);
  return toNormalizedCHW(x, opts.mean ?? IMAGENET_MEAN, opts.std ?? IMAGENET_STD);
}
