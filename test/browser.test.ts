// The portable engine in a real browser: test/browser/entry.ts bundled for the browser,
// served from 127.0.0.1 and run in headless Chromium's WebGPU (SwiftShader without a GPU).
// The page checks conv2d, the fused objective and a Plan replay against the float64
// references itself; AlexNet features.4 from the page is compared here with the same
// forward on Node (Dawn) and with a float64 reference.
// Tolerances: forward 1e-5, gradients 1e-4 (relative L2; stated per check by the page),
// AlexNet browser vs Node 1e-4 relative L2, plan replay bit-for-bit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { CHROMIUM, launchChromium } from './browser/chromium.ts';
import { createNodeGpu } from '../src/node/device.ts';
import { conv2dRef, maxPoolRef, relativeL2, type Shape4 } from '../src/engine/reference.ts';
import { randomStateDict } from '../src/models/network.ts';
import { ALEXNET_INPUT, ALEXNET_TAP, alexnetFeatures, alexnetInput, type BrowserResult } from './browser/entry.ts';
import { freshSeed } from './helpers.ts';

const LAUNCH_TIMEOUT_MS = 60_000;
const LOAD_TIMEOUT_MS = 30_000;
const RESULT_TIMEOUT_MS = 300_000; // every in-page check, on SwiftShader (CPU)
const NODE_TOL = 1e-4; // relative L2, AlexNet features.4 browser vs Node
const REF_TOL = 1e-5; // relative L2, AlexNet features.4 vs float64 reference (forward)

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`!!! SKIPPING browser tests: ${CHROMIUM} not found; install chromium (apt-get install -y --no-install-recommends chromium)`);
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>preimage browser checks</title>
<script type="module">
  const seed = Number(new URLSearchParams(location.search).get('seed'));
  import('./entry.js')
    .then((m) => m.runBrowserChecks(seed))
    .then((r) => { window.__result = r; }, (e) => { window.__result = { fatal: 'entry.js failed to load or run: ' + (e && e.stack || e), checks: [] }; });
</script>
`;

/** features.4 of AlexNet in float64 (conv → relu → maxpool → conv → relu), from the same weights and input. */
function alexnetReference(seed: number): Float64Array {
  const sd = randomStateDict('alexnet', 0);
  const p = (k: string) => Float64Array.from(sd.get(k)!.data);
  const relu = (v: Float64Array) => v.map((a) => Math.max(a, 0));
  const c1 = conv2dRef(Float64Array.from(alexnetInput(seed)), [...ALEXNET_INPUT] as Shape4, p('features.0.weight'), [64, 3, 11, 11], p('features.0.bias'),
    { stride: [4, 4], padding: [2, 2] });
  const m = maxPoolRef(relu(c1.y), c1.shape, { kernel: [3, 3], stride: [2, 2], padding: [0, 0], ceilMode: false });
  const c2 = conv2dRef(m.y, m.shape, p('features.3.weight'), [192, 64, 5, 5], p('features.3.bias'), { stride: [1, 1], padding: [2, 2] });
  return relu(c2.y);
}

describe.skipIf(!haveChromium)('portable engine in headless Chromium WebGPU', () => {
  const seed = freshSeed();
  let tmp = '';
  let server: Server | null = null;
  let context: BrowserContext | null = null;
  let result: BrowserResult | null = null;
  const pageLog: string[] = [];
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'preimage-browser-'));
    let t = performance.now();
    const lap = (name: string) => { const now = performance.now(); timings[name] = Math.round(now - t); t = now; };

    const bundle = await build({
      entryPoints: [join(import.meta.dirname, 'browser', 'entry.ts')], bundle: true, platform: 'browser', format: 'esm',
      outfile: join(tmp, 'entry.js'), write: false, logLevel: 'silent', metafile: true,
    });
    const nodeOnly = Object.keys(bundle.metafile.inputs).filter((i) => /^node:|node_modules\/(pngjs|jpeg-js|webgpu)\//.test(i));
    if (nodeOnly.length) throw new Error(`test/browser/entry.ts pulls Node-only modules into the browser bundle: ${nodeOnly.join(', ')}`);
    const js = bundle.outputFiles[0].contents;
    lap('bundle');

    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (path === '/' || path === '/index.html') { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(PAGE); }
      else if (path === '/entry.js') { res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }); res.end(js); }
      else if (path === '/favicon.ico') { res.writeHead(204); res.end(); }
      else { res.writeHead(404); res.end(); }
    });
    await new Promise<void>((resolve, reject) => { server!.once('error', reject); server!.listen(0, '127.0.0.1', resolve); });
    const port = (server.address() as AddressInfo).port;

    context = await launchChromium(LAUNCH_TIMEOUT_MS);
    lap('launch');
    const page = context.pages()[0] ?? await context.newPage();
    page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    page.on('crash', () => pageLog.push('page crashed'));
    await page.goto(`http://127.0.0.1:${port}/?seed=${seed}`, { timeout: LOAD_TIMEOUT_MS });
    try {
      await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null,
        { timeout: RESULT_TIMEOUT_MS, polling: 250 });
    } catch (e) {
      throw new Error(`the page wrote no result within ${RESULT_TIMEOUT_MS} ms (${(e as Error).message}); page log:\n${pageLog.join('\n')}`);
    }
    result = await page.evaluate(() => (window as unknown as { __result: BrowserResult }).__result);
    lap('browser checks');
  }, LAUNCH_TIMEOUT_MS + LOAD_TIMEOUT_MS + RESULT_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    const s = server;
    if (s) await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const msg = (what: string) => `${what} (TEST_SEED=${seed})${pageLog.length ? `\npage log:\n${pageLog.join('\n')}` : ''}`;

  it('gets a WebGPU adapter and device in the page', () => {
    expect(result, msg('no result from the page')).not.toBeNull();
    expect(result!.fatal, msg('page failed before or between checks')).toBeNull();
    const a = result!.adapter!;
    console.log(`browser adapter: vendor '${a.vendor}', architecture '${a.architecture}', device '${a.device}', description '${a.description}', `
      + `isFallbackAdapter ${result!.isFallbackAdapter}`);
    expect(a.backend).toBe('browser');
  });

  it('every in-page check passes (conv2d variants, fused objective, plan replay)', () => {
    expect(result, msg('no result from the page')).not.toBeNull();
    const checks = result!.checks;
    console.log(checks.map((c) => `${c.pass ? 'ok  ' : 'FAIL'} ${c.name}: ${c.error ?? 'non-finite'} (tol ${c.tol}, ${Math.round(c.ms)} ms)${c.message ? ` — ${c.message}` : ''}`).join('\n'));
    expect(checks.length, msg('number of in-page checks')).toBeGreaterThanOrEqual(34);
    for (const c of checks) {
      expect.soft(c.pass, msg(`${c.name}: error ${c.error ?? 'non-finite'} > tol ${c.tol}${c.message ? ` — ${c.message}` : ''}`)).toBe(true);
    }
    expect(result!.uncaptured, msg('uncaptured WebGPU errors in the page')).toEqual([]);
  });

  it(`AlexNet ${ALEXNET_TAP} on ${ALEXNET_INPUT.join('×')} matches Node (rel L2 ≤ 1e-4) and the float64 reference (≤ 1e-5)`, async () => {
    expect(result?.alexnet, msg('the page produced no AlexNet features')).toBeTruthy();
    let t = performance.now();
    const gpu = await createNodeGpu();
    let node: { shape: number[]; values: Float32Array };
    try {
      node = await alexnetFeatures(gpu, seed);
    } finally {
      gpu.destroy();
    }
    timings['node alexnet'] = Math.round(performance.now() - t);
    t = performance.now();
    const ref = alexnetReference(seed);
    timings['float64 reference'] = Math.round(performance.now() - t);
    const browser = result!.alexnet!;
    expect(browser.shape).toEqual(node.shape);
    expect(browser.shape).toEqual([1, 192, 7, 7]);
    const vsNode = relativeL2(browser.values, node.values), vsRef = relativeL2(browser.values, ref), nodeVsRef = relativeL2(node.values, ref);
    console.log(`alexnet ${ALEXNET_TAP}: browser vs node ${vsNode.toExponential(2)}, browser vs float64 ${vsRef.toExponential(2)}, node vs float64 ${nodeVsRef.toExponential(2)}`);
    console.log(`timings (ms): ${Object.entries(timings).map(([k, v]) => `${k} ${v}`).join(', ')}; in-page total ${Math.round(result!.ms)}`);
    expect(vsNode, msg('browser vs Node, tol 1e-4')).toBeLessThanOrEqual(NODE_TOL);
    expect(vsRef, msg('browser vs float64 reference, tol 1e-5')).toBeLessThanOrEqual(REF_TOL);
    expect(nodeVsRef, msg('Node vs float64 reference, tol 1e-5')).toBeLessThanOrEqual(REF_TOL);
  });
});
