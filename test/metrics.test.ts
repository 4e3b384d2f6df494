// PSNR / SSIM. The SSIM reference is tools/ssim_ref.py, a numpy transcription of
// skimage.metrics.structural_similarity (scikit-image is not installed in this
// environment's /usr/bin/python3; when it is, the script also calls skimage and this test
// compares against both).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mulberry32 } from '../src/engine/random.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { centerCrop, createImage, resize, type RgbImage } from '../src/invert/image.ts';
import { mse, psnr, ssim } from '../src/invert/metrics.ts';
import { readImage } from '../src/node/images.ts';

const PY = '/usr/bin/python3';
const SEED = (Date.now() ^ (process.pid << 8)) >>> 0;
const why = `(seed ${SEED})`;
const rand = mulberry32(SEED);

const constant = (w: number, h: number, v: number): RgbImage => createImage(w, h, [v, v, v]);
const noisy = (img: RgbImage, amp: number): RgbImage => ({
  width: img.width,
  height: img.height,
  data: img.data.map((v) => Math.min(1, Math.max(0, v + (rand() - 0.5) * 2 * amp))),
});
const randomImage = (w: number, h: number): RgbImage => ({ width: w, height: h, data: new Float32Array(w * h * 3).map(() => rand()) });

describe('psnr', () => {
  it('known values (tolerance 1e-9 dB)', () => {
    // values exact in float32: MSE 1/64, PSNR 10 log10(64)
    expect(psnr(constant(7, 5, 0), constant(7, 5, 0.125))).toBeCloseTo(10 * Math.log10(64), 9);
    expect(psnr(constant(7, 5, 0), constant(7, 5, 31.875), 255)).toBeCloseTo(10 * Math.log10(64), 9);
    // half the values off by 0.2: MSE 0.02, PSNR 10 log10(50)
    const a = constant(4, 3, 0.5), b = constant(4, 3, 0.5);
    for (let i = 0; i < b.data.length; i += 2) b.data[i] = 0.7;
    expect(mse(a, b)).toBeCloseTo(0.02, 7);
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10(50), 5); // float32 0.7 - 0.5 != 0.2 exactly
  });
  it('identical images give Infinity; bad input throws', () => {
    const a = randomImage(9, 4);
    expect(psnr(a, a)).toBe(Infinity);
    expect(() => psnr(a, randomImage(4, 9))).toThrow(/psnr: images differ in size, 9x4 vs 4x9/);
    expect(() => psnr(a, a, 0)).toThrow(/peak must be positive/);
    const n = randomImage(9, 4);
    n.data[3] = NaN;
    expect(() => psnr(a, n)).toThrow(/NaN/);
  });
});

describe('ssim', () => {
  it('identical images give 1 (tolerance 1e-12), symmetric, below 1 with noise', () => {
    const a = randomImage(23, 17);
    expect(ssim(a, a)).toBeCloseTo(1, 12);
    const b = noisy(a, 0.2);
    expect(Math.abs(ssim(a, b) - ssim(b, a))).toBeLessThanOrEqual(1e-12);
    expect(ssim(a, b)).toBeLessThan(0.99);
  });
  it('constant images: (2ab + C1) / (a^2 + b^2 + C1) (tolerance 1e-12)', () => {
    const C1 = 0.01 ** 2, a = 0.25, b = 0.75;
    const fa = Math.fround(a), fb = Math.fround(b);
    expect(ssim(constant(15, 12, a), constant(15, 12, b))).toBeCloseTo((2 * fa * fb + C1) / (fa * fa + fb * fb + C1), 12);
  });
  it('rejects images smaller than the window or of different sizes', () => {
    expect(() => ssim(randomImage(10, 20), randomImage(10, 20))).toThrow(/10x20, smaller than the 11x11 window/);
    expect(() => ssim(randomImage(12, 20), randomImage(20, 12))).toThrow(/ssim: images differ in size/);
  });
});

const hasNumpy = spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
if (!hasNumpy) console.warn('\n!!! metrics.test.ts: /usr/bin/python3 has no numpy: SSIM reference comparison SKIPPED !!!\n');

describe.skipIf(!hasNumpy)('ssim / psnr vs tools/ssim_ref.py (numpy transcription of skimage)', () => {
  let dir = '';
  const pairs: [string, RgbImage, RgbImage][] = [];
  let ref: { ssim: number; psnr: number | null; ssim_skimage: number | null }[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'preimage-ssim-'));
    const cat = await readImage('examples/chelsea.png');
    const crop = centerCrop(cat, 67, 45);
    pairs.push(['minimal 11x11 random', randomImage(11, 11), randomImage(11, 11)]);
    pairs.push(['37x23 random vs noisy', ...((a) => [a, noisy(a, 0.1)] as [RgbImage, RgbImage])(randomImage(37, 23))]);
    pairs.push(['67x45 photo vs noisy', crop, noisy(crop, 0.05)]);
    pairs.push(['67x45 photo vs blurred', crop, resize(resize(crop, 17, 11), 67, 45)]);
    pairs.push(['451x300 photo vs shifted', cat, { ...cat, data: cat.data.map((v, i) => cat.data[Math.max(0, i - 9)] ?? v) }]);
    const jobs = pairs.map(([, a, b], i) => {
      writeFileSync(join(dir, `a${i}.raw`), a.data);
      writeFileSync(join(dir, `b${i}.raw`), b.data);
      return { a: join(dir, `a${i}.raw`), b: join(dir, `b${i}.raw`), w: a.width, h: a.height };
    });
    writeFileSync(join(dir, 'jobs.json'), JSON.stringify(jobs));
    const r = spawnSync(PY, ['tools/ssim_ref.py', join(dir, 'jobs.json')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tools/ssim_ref.py failed: ${r.stderr}`);
    ref = JSON.parse(r.stdout);
  });
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('matches to 1e-9 (float64 both sides, different summation order)', () => {
    if (ref.every((r) => r.ssim_skimage === null)) console.warn('metrics.test.ts: skimage not installed, compared against the numpy transcription only');
    pairs.forEach(([name, a, b], i) => {
      const s = ssim(a, b);
      console.log(`ssim ${name}: ours ${s.toFixed(12)} ref ${ref[i].ssim.toFixed(12)} |diff| ${Math.abs(s - ref[i].ssim).toExponential(1)}`);
      expect(Math.abs(s - ref[i].ssim), `${name} ${why}`).toBeLessThanOrEqual(1e-9);
      if (ref[i].ssim_skimage !== null) expect(Math.abs(s - ref[i].ssim_skimage!), `${name} vs skimage ${why}`).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(psnr(a, b) - ref[i].psnr!), `psnr ${name} ${why}`).toBeLessThanOrEqual(1e-9);
    });
  });
});
