// The browser demo: the portable engine, models and inversion with navigator.gpu. Bundled
// and served by `npm run demo:web` (tools/web-demo.ts). URL parameters (model, layer,
// iterations, size, autorun=1) preset the form; window.__demo reports the outcome (tests).
import { createWebGpu } from '../../src/web/device.ts';
import { decodeImageBlob, drawImage } from '../../src/web/image.ts';
import { loadModel, randomStateDict, type LoadedModel } from '../../src/models/network.ts';
import { readStateDict } from '../../src/models/weights/index.ts';
import { resolveTap } from '../../src/models/taps.ts';
import { Inversion } from '../../src/invert/inversion.ts';
import { applyOverrides, presetSettings } from '../../src/invert/settings.ts';
import { centerCrop, preprocess, quantize8, resizeShorterSide } from '../../src/invert/image.ts';
import type { Gpu } from '../../src/engine/gpu.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string) => { $('status').textContent = s; };
declare global { interface Window { __demo?: { ok: boolean; error?: string; losses?: number[]; metrics?: unknown } } }

let gpuPromise: Promise<Gpu> | null = null;
let cached: { key: string; model: LoadedModel } | null = null;

async function run(): Promise<void> {
  const button = $<HTMLButtonElement>('run');
  button.disabled = true;
  try {
    const gpu = await (gpuPromise ??= createWebGpu());
    const name = $<HTMLSelectElement>('model').value;
    const tap = resolveTap(name, $<HTMLInputElement>('layer').value.trim());
    const iterations = Number($<HTMLInputElement>('iterations').value);
    const size = Number($<HTMLInputElement>('size').value);
    const weightsFile = $<HTMLInputElement>('weights').files?.[0];
    const imageFile = $<HTMLInputElement>('image').files?.[0];
    const key = `${name}:${weightsFile ? `${weightsFile.name}:${weightsFile.size}` : 'random'}`;
    if (cached?.key !== key) {
      cached?.model.destroy();
      status(weightsFile ? `reading ${weightsFile.name}…` : `making seeded random ${name} weights…`);
      const sd = weightsFile ? readStateDict(new Uint8Array(await weightsFile.arrayBuffer()), weightsFile.name) : randomStateDict(name, 0);
      cached = { key, model: loadModel(gpu, name, sd, weightsFile ? { kind: 'file', description: weightsFile.name } : { kind: 'random', description: 'seeded random initialisation (seed 0)' }) };
    }
    $('banner').innerHTML = cached.model.weights.kind === 'random' ? '<p class="banner">RANDOM WEIGHTS: load torchvision\'s .pth to invert a trained network.</p>' : '';
    const blob = imageFile ?? await (await fetch('./chelsea.png')).blob();
    const image = await decodeImageBlob(blob, imageFile?.name ?? 'chelsea.png');
    const resize = Math.round((size * 256) / 224);
    const original = centerCrop(resizeShorterSide(quantize8(image), resize, { quantize: true }), size, size);
    drawImage($('original'), original);
    const settings = applyOverrides(presetSettings('seed', name, tap), { iterations });
    const inv = await Inversion.create(gpu, { model: cached.model, tap, target: preprocess(image, { resize, crop: size }), height: size, width: size, settings });
    const t0 = performance.now();
    await inv.run((p) => status(`${name} ${tap}: iteration ${p.iteration}/${p.totalIterations}, objective ${p.last?.total.toExponential(3) ?? '…'}, ${(p.secondsPerIteration * 1000).toFixed(0)} ms/iteration (${gpu.adapter.vendor} ${gpu.adapter.architecture})`));
    drawImage($('result'), await inv.image('clip'));
    const metrics = await inv.metrics(original);
    $('resultCaption').textContent = `${tap}: feature error ${metrics.featureError.toPrecision(3)}, PSNR ${metrics.psnr.toFixed(1)} dB, SSIM ${metrics.ssim.toFixed(3)}`;
    status(`done: ${iterations} iterations in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${gpu.adapter.vendor} ${gpu.adapter.architecture}`);
    window.__demo = { ok: true, losses: inv.history.map((h) => h.total), metrics };
    inv.destroy();
  } catch (e) {
    status(`error: ${(e as Error).message}`);
    window.__demo = { ok: false, error: (e as Error).message };
  } finally {
    button.disabled = false;
  }
}

const params = new URLSearchParams(location.search);
for (const id of ['model', 'layer', 'iterations', 'size']) {
  const v = params.get(id);
  if (v !== null) ($(id) as HTMLInputElement).value = v;
}
$('run').addEventListener('click', () => void run());
status(navigator.gpu ? 'ready: press Invert' : 'this browser has no WebGPU (navigator.gpu is missing)');
if (params.get('autorun') === '1') void run();
