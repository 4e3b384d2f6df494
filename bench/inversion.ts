// Inversion benchmark: a full 200-iteration seed inversion for AlexNet features.4 and ResNet50
// layer2 on the adapter, the warm-up (create → first iteration done) separately, and the same
// in PyTorch CPU in the same run, side by side.   npx tsx bench/inversion.ts [--no-torch] [--iterations N]
import { parseArgs } from 'node:util';
import { createNodeGpu, describeAdapter } from '../src/node/device.ts';
import { readImage } from '../src/node/images.ts';
import { preprocess } from '../src/invert/image.ts';
import { Inversion } from '../src/invert/inversion.ts';
import { applyOverrides, presetSettings } from '../src/invert/settings.ts';
import { loadModel, randomStateDict } from '../src/models/network.ts';
import { torchReference, writeResults } from './common.ts';

const { values: args } = parseArgs({ options: { 'no-torch': { type: 'boolean' }, iterations: { type: 'string', default: '200' } } });
const iterations = Number(args.iterations);
const gpu = await createNodeGpu();
console.log(`adapter: ${describeAdapter(gpu)}`);
const target = preprocess(await readImage('examples/chelsea.png'));
const rows: any[] = [];
for (const [name, tap] of [['alexnet', 'features.4'], ['resnet50', 'layer2']]) {
  const model = loadModel(gpu, name, randomStateDict(name, 0), { kind: 'random', description: 'bench' });
  const t0 = performance.now();
  const inv = await Inversion.create(gpu, { model, tap, target, height: 224, width: 224, settings: applyOverrides(presetSettings('seed', name, tap), { iterations }), readEvery: 20, iterationsPerSubmit: 20 });
  await inv.run();
  const total = (performance.now() - t0) / 1000;
  const last = inv.history.at(-1)!;
  rows.push({ model: name, tap, iterations, total_s: total, per_iteration_ms: (1000 * inv.iterationSeconds) / iterations, warmup_s: inv.warmupSeconds, final_loss: last.total });
  console.log(`${name} ${tap}: ${iterations} iterations in ${total.toFixed(1)} s (${((1000 * inv.iterationSeconds) / iterations).toFixed(1)} ms/iteration), warm-up ${inv.warmupSeconds.toFixed(2)} s, final loss ${last.total.toFixed(4)}`);
  inv.destroy();
  model.destroy();
}
const torch = args['no-torch'] ? null : torchReference('inversion', ['--iterations', String(iterations)]);
if (torch) {
  console.log(`\n${'work'.padEnd(22)} ${'ours s'.padStart(8)} ${'torch s'.padStart(8)} ${'ratio'.padStart(7)} ${'ours warm-up'.padStart(13)} ${'torch warm-up'.padStart(14)}`);
  for (const r of rows) {
    const t = torch.inversion.find((x: any) => x.model === r.model && x.tap === r.tap);
    if (!t) continue;
    Object.assign(r, { torch_total_s: t.total_s, torch_per_iteration_ms: t.per_iteration_ms, torch_warmup_s: t.warmup_s, ratio: r.total_s / t.total_s });
    console.log(`${`${r.model} ${r.tap}`.padEnd(22)} ${r.total_s.toFixed(1).padStart(8)} ${t.total_s.toFixed(1).padStart(8)} ${r.ratio.toFixed(1).padStart(6)}× ${r.warmup_s.toFixed(2).padStart(13)} ${t.warmup_s.toFixed(2).padStart(14)}`);
  }
}
console.log(`wrote ${writeResults('inversion', gpu, { rows, torch })}`);
gpu.destroy();
