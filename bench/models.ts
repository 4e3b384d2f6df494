// Model benchmark: forward, and forward + input gradient of the normalised feature distance,
// to AlexNet features.4 / features.12 and ResNet50 maxpool / layer1 / layer2 / layer4
// (batch 1, 224×224), ms per iteration, with PyTorch CPU's figure for the same work measured
// in the same run, and the ratio.   npx tsx bench/models.ts [--no-torch]
import { parseArgs } from 'node:util';
import { createNodeGpu, describeAdapter } from '../src/node/device.ts';
import { Tape } from '../src/engine/tape.ts';
import { featureTarget, objective } from '../src/engine/ops/losses.ts';
import { forwardTo, loadModel, randomStateDict } from '../src/models/network.ts';
import { gaussian, mulberry32 } from '../src/engine/random.ts';
import { timeCommands, torchReference, writeResults } from './common.ts';

const { values: args } = parseArgs({ options: { 'no-torch': { type: 'boolean' } } });
const WORK: [string, string][] = [['alexnet', 'features.4'], ['alexnet', 'features.12'], ['resnet50', 'maxpool'], ['resnet50', 'layer1'], ['resnet50', 'layer2'], ['resnet50', 'layer4']];

const gpu = await createNodeGpu();
console.log(`adapter: ${describeAdapter(gpu)}`);
const rows: any[] = [];
for (const name of ['alexnet', 'resnet50']) {
  const model = loadModel(gpu, name, randomStateDict(name, 0), { kind: 'random', description: 'bench' });
  for (const [, tap] of WORK.filter(([m]) => m === name)) {
    const next = mulberry32(1);
    const tape = new Tape(gpu, { label: `${name} ${tap}` });
    const x = tape.constant([1, 3, 224, 224], gaussian(next, 3 * 224 * 224), 'x', true);
    const t0 = tape.constant([1, 3, 224, 224], gaussian(next, 3 * 224 * 224), 'x0');
    const target = featureTarget(tape, tape.detach(forwardTo(tape, model, t0, tap)));
    await tape.run();
    const fStart = tape.commands.length;
    const phi = forwardTo(tape, model, x, tap);
    const fEnd = tape.commands.length;
    objective(tape, [{ kind: 'feature_distance', features: phi, target, weight: 1 }]);
    tape.backward();
    const fwd = await timeCommands(gpu, tape.commands.slice(fStart, fEnd), 'forward', 3, 300);
    const both = await timeCommands(gpu, tape.commands.slice(fStart), 'forward+backward', 3, 300);
    rows.push({ model: name, tap, forward_ms: fwd.ms, forward_backward_ms: both.ms, first_run_ms: both.first, dispatches: tape.commands.length - fStart });
    console.log(`${name.padEnd(9)} ${tap.padEnd(12)} forward ${fwd.ms.toFixed(1).padStart(8)} ms   forward+grad ${both.ms.toFixed(1).padStart(8)} ms   (${tape.commands.length - fStart} dispatches, first run ${both.first.toFixed(0)} ms)`);
    target.normSq.destroy();
    tape.dispose();
  }
  model.destroy();
}
const torch = args['no-torch'] ? null : torchReference('model');
if (torch) {
  console.log(`\nPyTorch ${torch.torch} CPU (${torch.threads} threads), same work, same run:`);
  console.log(`${'work'.padEnd(24)} ${'ours fwd'.padStart(10)} ${'torch fwd'.padStart(10)} ${'ratio'.padStart(7)} ${'ours f+g'.padStart(10)} ${'torch f+g'.padStart(10)} ${'ratio'.padStart(7)}`);
  for (const r of rows) {
    const t = torch.model.find((x: any) => x.model === r.model && x.tap === r.tap);
    if (!t) continue;
    r.torch_forward_ms = t.forward_ms; r.torch_forward_backward_ms = t.forward_backward_ms;
    r.ratio_forward = r.forward_ms / t.forward_ms; r.ratio_forward_backward = r.forward_backward_ms / t.forward_backward_ms;
    console.log(`${`${r.model} ${r.tap}`.padEnd(24)} ${r.forward_ms.toFixed(1).padStart(10)} ${t.forward_ms.toFixed(1).padStart(10)} ${r.ratio_forward.toFixed(1).padStart(6)}× ${r.forward_backward_ms.toFixed(1).padStart(10)} ${t.forward_backward_ms.toFixed(1).padStart(10)} ${r.ratio_forward_backward.toFixed(1).padStart(6)}×`);
  }
}
console.log(`wrote ${writeResults('models', gpu, { rows, torch })}`);
gpu.destroy();
