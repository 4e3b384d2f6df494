// Reading PNG/JPEG files into RgbImage and writing PNGs (Node only: fs, Buffer, pngjs).
//
// PNG: any bit depth (1-16), gray, gray+alpha, RGB, RGBA, palette, tRNS. 16-bit samples
// keep their precision (v / 65535). Alpha is composited over white (out = a*c + (1-a)),
// since a transparent background should read as the light page it is drawn on.
// JPEG: baseline and progressive, gray/YCbCr/CMYK via jpeg-js, bounded in memory.
// The format is sniffed from the first bytes, never from the extension.

import { readFile, writeFile, rename, unlink } from 'node:fs/promises';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { checkImage, toBytes, type RgbImage } from '../invert/image.ts';

export interface ReadImageOptions {
  /** jpeg-js memory bound; default 1024 MB */
  maxMemoryUsageInMB?: number;
  /** refuse images with more pixels than this (megapixels); default 100 */
  maxResolutionInMP?: number;
}

type Format = 'png' | 'jpeg' | { unsupported: string } | null;

function sniff(b: Uint8Array): Format {
  const at = (i: number, ...v: number[]) => v.every((x, j) => b[i + j] === x);
  const ascii = (i: number, s: string) => at(i, ...Array.from(s, (ch) => ch.charCodeAt(0)));
  // a file cut inside the signature still counts as that format (then fails as truncated)
  const sig = (...v: number[]) => at(0, ...v.slice(0, Math.min(v.length, b.length)));
  if (sig(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (sig(0xff, 0xd8, 0xff)) return 'jpeg';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return { unsupported: 'GIF' };
  if (ascii(0, 'BM')) return { unsupported: 'BMP' };
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return { unsupported: 'WebP' };
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return { unsupported: 'TIFF' };
  if (ascii(4, 'ftyp')) return { unsupported: 'HEIF/AVIF' };
  if (at(0, 0x00, 0x00, 0x01, 0x00)) return { unsupported: 'ICO' };
  if (at(0, 0xff, 0x0a) || at(0, 0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20)) return { unsupported: 'JPEG XL' };
  if (ascii(0, 'P') && b[1] >= 0x31 && b[1] <= 0x37 && (b[2] === 0x0a || b[2] === 0x20 || b[2] === 0x0d)) {
    return { unsupported: 'PNM' };
  }
  if (ascii(0, '8BPS')) return { unsupported: 'PSD' };
  if (ascii(0, '<svg') || ascii(0, '<?xml')) return { unsupported: 'SVG/XML' };
  return null;
}

function fail(path: string, why: string): Error {
  return new Error(`cannot read image '${path}': ${why}`);
}

function oneLine(msg: string): string {
  return msg.replace(/\s+/g, ' ').trim();
}

export async function readImage(path: string, opts: ReadImageOptions = {}): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' :
      code === 'EISDIR' ? 'is a directory' :
      code === 'EACCES' ? 'permission denied' :
      oneLine((e as Error).message);
    throw fail(path, why);
  }
  return decodeImage(bytes, path, opts);
}

/** Decodes PNG or JPEG bytes; `name` is used in error messages. */
export function decodeImage(bytes: Uint8Array, name: string, opts: ReadImageOptions = {}): RgbImage {
  if (bytes.length === 0) throw fail(name, 'empty file (expected PNG or JPEG)');
  const fmt = sniff(bytes);
  if (fmt === null) throw fail(name, 'not an image (expected PNG or JPEG)');
  if (typeof fmt === 'object') throw fail(name, `unsupported format (expected PNG or JPEG): found ${fmt.unsupported}`);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxMP = opts.maxResolutionInMP ?? 100;
  return fmt === 'png' ? decodePng(buf, name, maxMP) : decodeJpeg(buf, name, maxMP, opts.maxMemoryUsageInMB ?? 1024);
}

interface PngMeta {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  data: Uint8Array | Uint16Array;
}

function pngHeaderSize(buf: Buffer): [number, number] | null {
  // IHDR is required to be the first chunk: width/height at bytes 16..23
  if (buf.length < 24 || buf.toString('latin1', 12, 16) !== 'IHDR') return null;
  return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

function decodePng(buf: Buffer, name: string, maxMP: number): RgbImage {
  const hdr = pngHeaderSize(buf);
  if (hdr === null) throw fail(name, 'truncated or corrupt PNG (no IHDR chunk)');
  if (hdr[0] * hdr[1] > maxMP * 1e6) {
    throw fail(name, `PNG is ${hdr[0]}x${hdr[1]}, over the ${maxMP} megapixel limit`);
  }
  let meta: PngMeta;
  try {
    // skipRescale keeps 16-bit samples (Uint16Array) and leaves 1/2/4-bit gray unscaled
    meta = PNG.sync.read(buf, { skipRescale: true }) as unknown as PngMeta;
  } catch (e) {
    throw fail(name, `truncated or corrupt PNG (${oneLine((e as Error).message)})`);
  }
  const { width, height, data } = meta;
  if (!(width > 0 && height > 0) || data.length !== width * height * 4) {
    throw fail(name, `corrupt PNG (decoded ${data.length} values for ${width}x${height} RGBA)`);
  }
  // pngjs always hands back RGBA; palette entries are 8-bit whatever the index depth
  const maxVal = meta.colorType === 3 ? 255 : 2 ** meta.depth - 1;
  const inv = 1 / maxVal;
  const n = width * height;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = data[i * 4 + 3] * inv;
    for (let c = 0; c < 3; c++) {
      const v = data[i * 4 + c] * inv;
      out[i * 3 + c] = a === 1 ? v : a * v + (1 - a);
    }
  }
  return { width, height, data: out };
}

function decodeJpeg(buf: Buffer, name: string, maxMP: number, maxMB: number): RgbImage {
  let dec: { width: number; height: number; data: Uint8Array };
  try {
    dec = jpeg.decode(buf, {
      useTArray: true,
      formatAsRGBA: false,
      // tolerant decoding would hand back grey blocks for a truncated file
      tolerantDecoding: false,
      maxResolutionInMP: maxMP,
      maxMemoryUsageInMB: maxMB,
    });
  } catch (e) {
    const msg = oneLine((e as Error).message ?? String(e));
    if (/maxMemoryUsageInMB|maxResolutionInMP/.test(msg)) throw fail(name, `JPEG too large (${msg})`);
    throw fail(name, `truncated or corrupt JPEG (${msg})`);
  }
  const { width, height, data } = dec;
  if (!(width > 0 && height > 0) || data.length !== width * height * 3) {
    throw fail(name, `corrupt JPEG (decoded ${data.length} bytes for ${width}x${height} RGB)`);
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] / 255;
  return { width, height, data: out };
}

/** 8-bit RGB PNG bytes; values are clamped to [0,1] and rounded. NaN throws. */
export function encodePng(img: RgbImage): Uint8Array {
  checkImage(img, 'encodePng');
  const rgb = toBytes(img);
  const png = new PNG({ width: img.width, height: img.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  const out = PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Writes a PNG atomically: `<path>.tmp-<pid>` first, then renamed over `path`. */
export async function writePng(path: string, img: RgbImage): Promise<void> {
  const bytes = encodePng(img);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new Error(`cannot write PNG '${path}': ${oneLine((e as Error).message)}`);
  }
}
