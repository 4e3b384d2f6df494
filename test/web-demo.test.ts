// The browser demo page (npm run demo:web) as a user opens it: bundled, served on 127.0.0.1,
// loaded in headless Chromium, a short inversion run from the page's own controls.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { BrowserContext } from 'playwright-core';
import { serveWebDemo } from '../tools/web-demo.ts';
import { CHROMIUM, launchChromium } from './browser/chromium.ts';

const have = existsSync(CHROMIUM);
if (!have) console.warn(`!!! SKIPPING the web demo test: ${CHROMIUM} not found (apt-get install -y --no-install-recommends chromium)`);

describe.skipIf(!have)('web demo', () => {
  let server: Server | null = null;
  let context: BrowserContext | null = null;
  afterAll(async () => { await context?.close(); server?.close(); });

  it('runs an AlexNet inversion from the page and draws the result', async () => {
    const s = await serveWebDemo();
    server = s.server;
    context = await launchChromium();
    const page = context.pages()[0] ?? await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${s.url}?model=alexnet&layer=features.3&iterations=6&size=64&autorun=1`, { timeout: 30_000 });
    await page.waitForFunction(() => window.__demo !== undefined, undefined, { timeout: 240_000 });
    const demo = await page.evaluate(() => window.__demo!);
    expect(errors).toEqual([]);
    expect(demo.error ?? '').toBe('');
    expect(demo.ok).toBe(true);
    const losses = demo.losses!;
    expect(losses.length).toBeGreaterThanOrEqual(2);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
    const caption = await page.textContent('#resultCaption');
    expect(caption).toMatch(/features\.3: feature error [\d.e-]+, PSNR [\d.]+ dB, SSIM [\d.-]+/);
    expect(await page.textContent('#banner')).toMatch(/RANDOM WEIGHTS/);
    // The result canvas holds the 64×64 picture, not a blank.
    const drawn = await page.evaluate(() => {
      const c = document.getElementById('result') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let lo = 255, hi = 0;
      for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
      return { w: c.width, h: c.height, range: hi - lo };
    });
    expect(drawn).toMatchObject({ w: 64, h: 64 });
    expect(drawn.range).toBeGreaterThan(10);
  });
});
