// readImage / writePng / encodePng. PNGs of every colour type and bit depth are built
// here with a small independent encoder (node:zlib); PIL-written PNGs and JPEGs (if
// /usr/bin/python3 has PIL) check files from a real encoder with its filters and
// chroma subsampling.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mulberry32 } from '../src/engine/random.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { decodeImage, encodePng, readImage, writePng } from '../src/node/images.ts';
import { createImage, type RgbImage } from '../src/invert/image.ts';

const PY = '/usr/bin/python3';
const SEED = (Date.now() ^ (process.pid << 8)) >>> 0;
const why = `(seed ${SEED})`;
const rand = mulberry32(SEED);
const randInt = (n: number) => Math.floor(rand() * n);

// ---- a minimal PNG writer (filter 0, no interlace) -------------------------------------
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
interface PngSpec {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8 | 16;
  samples: number[]; // row-major, CHANNELS[colorType] per pixel
  palette?: [number, number, number][];
  trns?: Uint8Array;
}
function makePng(s: PngSpec): Buffer {
  const ch = CHANNELS[s.colorType];
  const rowBytes = Math.ceil((s.width * ch * s.depth) / 8);
  const raw = Buffer.alloc((rowBytes + 1) * s.height);
  for (let y = 0; y < s.height; y++) {
    const row = y * (rowBytes + 1) + 1;
    for (let i = 0; i < s.width * ch; i++) {
      const v = s.samples[y * s.width * ch + i];
      if (s.depth === 16) raw.writeUInt16BE(v, row + 2 * i);
      else if (s.depth === 8) raw[row + i] = v;
      else {
        const bit = i * s.depth;
        raw[row + (bit >> 3)] |= v << (8 - s.depth - (bit & 7));
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.depth;
  ihdr[9] = s.colorType;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (s.palette) parts.push(chunk('PLTE', Uint8Array.from(s.palette.flat())));
  if (s.trns) parts.push(chunk('tRNS', s.trns));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

function maxDiff(img: RgbImage, expected: ArrayLike<number>): number {
  expect(img.data.length).toBe(expected.length);
  let m = 0;
  for (let i = 0; i < expected.length; i++) m = Math.max(m, Math.abs(img.data[i] - expected[i]));
  return m;
}

/** expected RGB in [0,1] from samples: gray expands, alpha composites over white */
function expectedRgb(s: PngSpec, alphaOf?: (i: number) => number): number[] {
  const ch = CHANNELS[s.colorType];
  const max = 2 ** s.depth - 1;
  const out: number[] = [];
  for (let p = 0; p < s.width * s.height; p++) {
    const v = s.samples.slice(p * ch, p * ch + ch).map((x) => x / max);
    let rgb: number[], a: number;
    if (s.colorType === 0) { rgb = [v[0], v[0], v[0]]; a = 1; }
    else if (s.colorType === 4) { rgb = [v[0], v[0], v[0]]; a = v[1]; }
    else if (s.colorType === 2) { rgb = v; a = 1; }
    else { rgb = v.slice(0, 3); a = v[3]; }
    if (alphaOf) a = alphaOf(p);
    out.push(...rgb.map((c) => a * c + (1 - a)));
  }
  return out;
}

let dir = '';
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'preimage-io-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

describe('readImage: PNG of every colour type and depth', () => {
  const W = 7 + randInt(9), H = 3 + randInt(9); // odd, small, random
  const cases: [string, 0 | 2 | 4 | 6, 1 | 2 | 4 | 8 | 16][] = [
    ['rgb8', 2, 8], ['rgba8', 6, 8], ['gray8', 0, 8], ['graya8', 4, 8],
    ['rgb16', 2, 16], ['rgba16', 6, 16], ['gray16', 0, 16], ['graya16', 4, 16],
    ['gray1', 0, 1], ['gray2', 0, 2], ['gray4', 0, 4],
  ];
  for (const [name, colorType, depth] of cases) {
    it(`${name}: ${W}x${H} decodes to v/(2^depth-1), alpha over white (max abs 1e-6)`, async () => {
      const n = W * H * CHANNELS[colorType];
      const spec: PngSpec = { width: W, height: H, colorType, depth, samples: Array.from({ length: n }, () => randInt(2 ** depth)) };
      const file = join(dir, `${name}.png`);
      writeFileSync(file, makePng(spec));
      const img = await readImage(file);
      expect([img.width, img.height]).toEqual([W, H]);
      expect(maxDiff(img, expectedRgb(spec)), `${name} ${why}`).toBeLessThanOrEqual(1e-6);
    });
  }

  it('palette (8-bit and 4-bit index) with tRNS alpha', async () => {
    for (const depth of [8, 4] as const) {
      const palette: [number, number, number][] = Array.from({ length: 11 }, () => [randInt(256), randInt(256), randInt(256)]);
      const alpha = Uint8Array.from({ length: 6 }, () => randInt(256)); // entries 6..10 opaque
      const idx = Array.from({ length: W * H }, () => randInt(11));
      const file = join(dir, `pal${depth}.png`);
      writeFileSync(file, makePng({ width: W, height: H, colorType: 3, depth, samples: idx, palette, trns: alpha }));
      const img = await readImage(file);
      const exp = idx.flatMap((k) => {
        const a = k < alpha.length ? alpha[k] / 255 : 1;
        return palette[k].map((c) => (a * c) / 255 + (1 - a));
      });
      expect(maxDiff(img, exp), `palette depth ${depth} ${why}`).toBeLessThanOrEqual(1e-6);
    }
  });

  it('tRNS colour key on RGB makes that colour white', async () => {
    const key = [10, 20, 30];
    const samples = Array.from({ length: W * H * 3 }, () => randInt(256));
    samples.splice(0, 3, ...key);
    const trns = Uint8Array.from([0, 10, 0, 20, 0, 30]);
    const spec: PngSpec = { width: W, height: H, colorType: 2, depth: 8, samples, trns };
    const file = join(dir, 'key.png');
    writeFileSync(file, makePng(spec));
    const img = await readImage(file);
    const isKey = (p: number) => samples[p * 3] === 10 && samples[p * 3 + 1] === 20 && samples[p * 3 + 2] === 30;
    expect(maxDiff(img, expectedRgb(spec, (p) => (isKey(p) ? 0 : 1)))).toBeLessThanOrEqual(1e-6);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([1, 1, 1]);
  });

  it('the format comes from the bytes: a PNG named .jpg reads fine', async () => {
    const file = join(dir, 'actually-png.jpg');
    writeFileSync(file, makePng({ width: 2, height: 1, colorType: 2, depth: 8, samples: [255, 0, 0, 0, 0, 255] }));
    expect(Array.from((await readImage(file)).data)).toEqual([1, 0, 0, 0, 0, 1]);
  });
});

const hasPil = spawnSync(PY, ['-c', 'import numpy, PIL'], { encoding: 'utf8' }).status === 0;
if (!hasPil) console.warn('\n!!! image-io.test.ts: /usr/bin/python3 with numpy+PIL missing: PIL-written files SKIPPED !!!\n');

describe.skipIf(!hasPil)('files written by PIL', () => {
  const W = 97, H = 61;
  // [file, how PIL decodes it into RGB (over white for alpha), max abs tol 0..255, mean tol]
  const files: [string, number, number][] = [
    ['pil_rgb.png', 0, 0], ['pil_p.png', 0, 0], ['pil_la.png', 0.51, 0.51], ['pil_rgba.png', 0.51, 0.51], ['pil_i16.png', 0.01, 0.01],
    // jpeg-js vs libjpeg: different IDCT rounding and chroma upsampling (4:2:0 is the loosest)
    ['pil_420.jpg', 32, 4], ['pil_444.jpg', 6, 1.5], ['pil_prog.jpg', 32, 4], ['pil_gray.jpg', 2, 0.5], ['pil_cmyk.jpg', 3, 0.5],
  ];
  beforeAll(() => {
    const script = `
import numpy as np, sys
from PIL import Image
d = sys.argv[1]; W, H = ${W}, ${H}
rng = np.random.default_rng(${SEED})
x = np.linspace(0, 1, W)[None, :, None]; y = np.linspace(0, 1, H)[:, None, None]
a = (255 * (0.5 + 0.4 * np.sin(6 * x + 3 * y + np.arange(3)))).astype(np.uint8)
a = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
alpha = rng.integers(0, 256, (H, W)).astype(np.uint8)
def over_white(rgb, al):
    al = al[:, :, None] / 255.0
    return rgb / 255.0 * al + (1 - al)
def save(name, img, ref):
    img.save(d + '/' + name, **({'quality': 92} if name.endswith('.jpg') else {}))
    np.asarray(ref, dtype=np.float64).astype('<f8').tofile(d + '/' + name + '.ref')
rgb = Image.fromarray(a)
save('pil_rgb.png', rgb, a / 255.0)
p = rgb.quantize(37)
save('pil_p.png', p, np.asarray(p.convert('RGB')) / 255.0)
g = np.asarray(rgb.convert('L'))
la = Image.merge('LA', [Image.fromarray(g), Image.fromarray(alpha)])
save('pil_la.png', la, over_white(np.repeat(g[:, :, None], 3, 2).astype(float), alpha))
save('pil_rgba.png', Image.fromarray(np.dstack([a, alpha])), over_white(a.astype(float), alpha))
g16 = (rng.integers(0, 65536, (H, W))).astype(np.uint16)
save('pil_i16.png', Image.fromarray(g16, 'I;16'), np.repeat(g16[:, :, None] / 65535.0, 3, 2))
for name, kw in [('pil_420.jpg', {}), ('pil_444.jpg', {'subsampling': 0}), ('pil_prog.jpg', {'progressive': True})]:
    rgb.save(d + '/' + name, quality=92, **kw)
    (np.asarray(Image.open(d + '/' + name).convert('RGB')) / 255.0).astype('<f8').tofile(d + '/' + name + '.ref')
rgb.convert('L').save(d + '/pil_gray.jpg', quality=92)
(np.asarray(Image.open(d + '/pil_gray.jpg').convert('RGB')) / 255.0).astype('<f8').tofile(d + '/pil_gray.jpg.ref')
rgb.convert('CMYK').save(d + '/pil_cmyk.jpg', quality=92)
(np.asarray(Image.open(d + '/pil_cmyk.jpg').convert('RGB')) / 255.0).astype('<f8').tofile(d + '/pil_cmyk.jpg.ref')
`;
    const r = spawnSync(PY, ['-c', script, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`PIL fixture script failed: ${r.stderr}`);
  });

  for (const [name, maxTol, meanTol] of files) {
    it(`${name} matches PIL's decoding (max abs <= ${maxTol}/255, mean <= ${meanTol}/255)`, async () => {
      const img = await readImage(join(dir, name));
      expect([img.width, img.height]).toEqual([W, H]);
      const b = readFileSync(join(dir, name + '.ref'));
      const ref = new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      let mx = 0, sum = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(img.data[i] - ref[i]) * 255;
        mx = Math.max(mx, d);
        sum += d;
      }
      console.log(`${name}: max abs ${mx.toFixed(3)}/255, mean ${(sum / ref.length).toFixed(3)}/255`);
      expect(mx, why).toBeLessThanOrEqual(maxTol + 1e-3);
      expect(sum / ref.length, why).toBeLessThanOrEqual(meanTol + 1e-3);
    });
  }
});

describe('readImage: JPEG from jpeg-js and the memory bound', () => {
  it('a jpeg-js encoded image (q=95, odd size) decodes close to the source (mean abs < 3/255)', async () => {
    const w = 33 + randInt(20), h = 17 + randInt(20);
    const rgba = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      rgba[o] = Math.round(255 * x / (w - 1));
      rgba[o + 1] = Math.round(255 * y / (h - 1));
      rgba[o + 2] = 128 + randInt(16);
      rgba[o + 3] = 255;
    }
    const file = join(dir, 'jpegjs.jpeg');
    writeFileSync(file, jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
    const img = await readImage(file);
    expect([img.width, img.height]).toEqual([w, h]);
    let sum = 0;
    for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) sum += Math.abs(img.data[p * 3 + c] * 255 - rgba[p * 4 + c]);
    expect(sum / (w * h * 3), why).toBeLessThan(3);
  });

  it('maxMemoryUsageInMB bounds decoding', async () => {
    const w = 1200, h = 1000;
    const file = join(dir, 'big.jpg');
    writeFileSync(file, jpeg.encode({ width: w, height: h, data: new Uint8Array(w * h * 4).fill(200) }, 50).data);
    await expect(readImage(file, { maxMemoryUsageInMB: 2 })).rejects.toThrow(/^cannot read image '.*big\.jpg': JPEG too large \(.*maxMemoryUsageInMB/);
    expect((await readImage(file)).width).toBe(w);
    await expect(readImage(file, { maxResolutionInMP: 1 })).rejects.toThrow(/JPEG too large/);
  });
});

describe('readImage errors: one line naming the file', () => {
  const cases: [string, () => string, RegExp][] = [
    ['missing file', () => join(dir, 'nope.png'), /: no such file$/],
    ['directory', () => { const d = join(dir, 'adir.png'); mkdirSync(d, { recursive: true }); return d; }, /: is a directory$/],
    ['empty file', () => { const f = join(dir, 'empty.png'); writeFileSync(f, ''); return f; }, /: empty file \(expected PNG or JPEG\)$/],
    ['not an image', () => { const f = join(dir, 'notes.png'); writeFileSync(f, 'hello, world\n'); return f; }, /: not an image \(expected PNG or JPEG\)$/],
    ['GIF', () => { const f = join(dir, 'x.gif'); writeFileSync(f, Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1')); return f; },
      /: unsupported format \(expected PNG or JPEG\): found GIF$/],
    ['WebP', () => { const f = join(dir, 'x.webp'); writeFileSync(f, Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1')); return f; },
      /: unsupported format \(expected PNG or JPEG\): found WebP$/],
    ['BMP', () => { const f = join(dir, 'x.bmp'); writeFileSync(f, Buffer.from('BM\x36\x00\x00\x00\x00\x00', 'latin1')); return f; },
      /: unsupported format \(expected PNG or JPEG\): found BMP$/],
    ['truncated PNG', () => {
      const f = join(dir, 'trunc.png');
      const png = makePng({ width: 40, height: 30, colorType: 2, depth: 8, samples: Array.from({ length: 3600 }, () => randInt(256)) });
      writeFileSync(f, png.subarray(0, Math.floor(png.length * (0.3 + 0.6 * rand()))));
      return f;
    }, /: truncated or corrupt PNG \(.+\)$/],
    ['PNG header only', () => { const f = join(dir, 'sig.png'); writeFileSync(f, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])); return f; },
      /: truncated or corrupt PNG \(no IHDR chunk\)$/],
    ['PNG with a bad CRC', () => {
      const f = join(dir, 'crc.png');
      const png = makePng({ width: 9, height: 5, colorType: 0, depth: 8, samples: Array.from({ length: 45 }, () => randInt(256)) });
      png[png.length - 20] ^= 0xff; // inside IDAT
      writeFileSync(f, png);
      return f;
    }, /: truncated or corrupt PNG \(.+\)$/],
    ['truncated JPEG', () => {
      const f = join(dir, 'trunc.jpg');
      const j = jpeg.encode({ width: 64, height: 48, data: new Uint8Array(64 * 48 * 4).map(() => randInt(256)) }, 90).data;
      writeFileSync(f, j.subarray(0, Math.floor(j.length * (0.2 + 0.7 * rand()))));
      return f;
    }, /: truncated or corrupt JPEG \(.+\)$/],
  ];
  for (const [name, make, re] of cases) {
    it(name, async () => {
      const path = make();
      const err = await readImage(path).then(() => null, (e: Error) => e);
      expect(err, `${name} should throw ${why}`).toBeInstanceOf(Error);
      expect(err!.message.startsWith(`cannot read image '${path}': `), err!.message).toBe(true);
      expect(err!.message, why).toMatch(re);
      expect(err!.message).not.toMatch(/\n/);
    });
  }
  it('decodeImage names the source it was given', () => {
    expect(() => decodeImage(new Uint8Array([1, 2, 3]), 'upload #3')).toThrow("cannot read image 'upload #3': not an image (expected PNG or JPEG)");
  });
});

describe('writePng / encodePng', () => {
  it('round trip is exact on 8-bit values; clamps out-of-range; atomic (no temp file left)', async () => {
    const w = 5 + randInt(30), h = 3 + randInt(30);
    const img = createImage(w, h);
    for (let i = 0; i < img.data.length; i++) img.data[i] = randInt(256) / 255;
    img.data[0] = -0.5;
    img.data[1] = 7;
    const out = join(dir, 'sub', 'out.png');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    await writePng(out, img);
    await writePng(out, img); // overwriting is fine too
    expect(readdirSync(join(dir, 'sub'))).toEqual(['out.png']);
    const back = await readImage(out);
    expect(back.data[0]).toBe(0);
    expect(back.data[1]).toBe(1);
    let bad = 0;
    for (let i = 2; i < img.data.length; i++) if (back.data[i] !== img.data[i]) bad++;
    expect(bad, why).toBe(0);
    const bytes = encodePng(img);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('fails with one line naming the file, leaving no temp file; NaN refuses to encode', async () => {
    const img = createImage(3, 2, [0.5, 0.5, 0.5]);
    const bad = join(dir, 'no-such-dir', 'x.png');
    await expect(writePng(bad, img)).rejects.toThrow(new RegExp(`^cannot write PNG '${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': `));
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
    img.data[4] = NaN;
    expect(() => encodePng(img)).toThrow(/pixel \(1, 0\) channel 1 is NaN/);
  });
});
