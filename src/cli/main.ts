// The `preimage` command: invert a photo's representation at one or more layers of AlexNet or
// ResNet50, optionally sweeping parameters; list layers; run the seed note's experiments.
import { Command, CommanderError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { listTaps, architecture } from '../models/taps.ts';
import { PARAMETERS, PRESETS, parseParameter } from '../invert/settings.ts';
import { runInversions, parseSweep, UsageError, type RunSpec, type Sweep } from '../node/run.ts';
import { EXPERIMENTS } from './experiments.ts';

const EXAMPLES = `
Examples:
  preimage --model alexnet --layer features.4 --image examples/chelsea.png --out runs/cat
  preimage --model alexnet --layer features.0..features.4 --sweep lambda-alpha=1e-7,1e-6,1e-5,1e-4,1e-3
  preimage --model resnet50 --layer layer2 --preset mahendran2016 --weights ~/resnet50-0676ba61.pth
  preimage --experiment lambda-tv-sweep --iterations 50 --out runs/tv
  preimage --list-layers resnet50

Weights: omitted → torchvision's file from $TORCH_HOME/hub/checkpoints or ./weights, else seeded
RANDOM weights (said loudly); 'random' forces them; 'download' fetches and verifies the official file.
Exit codes: 0 done, 1 engine failure, 2 bad input, 3 some cells diverged, 130 interrupted (finished cells are kept).
Experiments: ${Object.keys(EXPERIMENTS).join(', ')}. Presets: ${PRESETS.join(', ')}.`;

interface Ui { stop(): void; log(line: string): void }

function number(name: string) {
  return (raw: string) => {
    try { return parseParameter(name, raw); } catch (e) { throw new UsageError((e as Error).message); }
  };
}

export function buildProgram(): Command {
  const program = new Command('preimage')
    .description('Invert deep image representations (Mahendran & Vedaldi) on a hand-written WebGPU engine.')
    .option('--model <name>', 'alexnet or resnet50', 'alexnet')
    .option('--layer <names>', 'tap(s): a name, a comma list, or FIRST..LAST (torchvision module names); repeat for grid rows (default: features.4)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--image <path>', 'PNG or JPEG photo', 'examples/chelsea.png')
    .option('--weights <path|random|download>', 'weights file, random, or download')
    .option('--verify-weights', "hash the cached torchvision weights file fully against its published sha256")
    .option('--preset <name>', `${PRESETS.join(' | ')}`, 'seed')
    .option('--out <dir>', 'output folder (reruns skip finished cells)')
    .option('--sweep <param=v1,v2,...>', 'sweep a parameter; repeat for a product', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--experiment <name>', `one of the seed note's experiments: ${Object.keys(EXPERIMENTS).join(', ')}`)
    .option('--list-layers <model>', 'list every layer with its op and output shape, then exit')
    .option('--size <px>', 'crop size (input is resized, then centre-cropped)', '224')
    .option('--resize <px>', 'shorter side before the crop', '256')
    .option('--display <mode>', 'clip or minmax (the paper shows min–max rescaled images)', 'clip')
    .option('--read-every <n>', 'read the objective back every n iterations', '10')
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(`preimage: ${s.trim().replace(/\s*\n\s*/g, ' ')}\n`) });
  for (const [name, p] of Object.entries(PARAMETERS)) {
    if (name === 'C') program.addOption(new Option('--feature-weight <C>', p.help).argParser(number('C')));
    else program.addOption(new Option(`--${name} <value>`, p.help).argParser(number(name)));
  }
  return program;
}

function int(name: string, raw: string, min: number): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name}: '${raw}' is not an integer ≥ ${min}`);
  return v;
}

function listLayers(model: string, size: number): void {
  const taps = listTaps(architecture(model).name, [1, 3, size, size]);
  const w = Math.max(...taps.map((t) => t.name.length));
  const ow = Math.max(...taps.map((t) => t.op.length));
  console.log(`${model}: ${taps.length} layers for a 1×3×${size}×${size} input`);
  for (const t of taps) console.log(`${t.name.padEnd(w)}  ${t.op.padEnd(ow)}  [${t.shape.join(', ')}]`);
}

function progressUi(total: number): Ui & { cellStart(label: string, iterations: number): void; cellUpdate(it: number, loss: string): void; cellDone(): void } {
  if (!process.stderr.isTTY) {
    let lastPct = -1;
    let label = '';
    let iters = 0;
    return {
      cellStart(l, n) { label = l; iters = n; lastPct = -1; console.error(`start ${label} (${n} iterations)`); },
      cellUpdate(it, loss) {
        const pct = Math.floor((100 * it) / Math.max(1, iters) / 10) * 10;
        if (pct > lastPct) { lastPct = pct; console.error(`  ${label}: ${it}/${iters} ${loss}`); }
      },
      cellDone() {},
      stop() {},
      log(line) { console.error(line); },
    };
  }
  const multi = new cliProgress.MultiBar({
    clearOnComplete: false, hideCursor: true, format: ' {name} |{bar}| {value}/{total} {unit} | ETA {eta_formatted} {info}',
  }, cliProgress.Presets.shades_classic);
  const overall = multi.create(total, 0, { name: 'overall'.padEnd(28), unit: 'cells', info: '' });
  let cell: cliProgress.SingleBar | null = null;
  return {
    cellStart(label, n) { cell = multi.create(n, 0, { name: label.slice(0, 28).padEnd(28), unit: 'it', info: '' }); },
    cellUpdate(it, loss) { cell?.update(it, { info: loss }); },
    cellDone() { overall.increment(); cell?.stop(); },
    stop() { multi.stop(); },
    log(line) { multi.log(`${line}\n`); },
  };
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError) { console.error(`preimage: error: ${e.message}`); return 2; }
    throw e;
  }
  const o = program.opts();
  try {
    const size = int('size', o.size, 32);
    const checkModel = (m: string) => { try { return architecture(m).name; } catch (e) { throw new UsageError((e as Error).message); } };
    if (o.listLayers) { listLayers(checkModel(o.listLayers), size); return 0; }
    const resize = int('resize', o.resize, size);
    if (o.display !== 'clip' && o.display !== 'minmax') throw new UsageError(`--display: '${o.display}' is not clip or minmax`);
    if (!PRESETS.includes(o.preset)) throw new UsageError(`unknown preset '${o.preset}' (expected one of: ${PRESETS.join(', ')})`);
    const overrides: RunSpec['overrides'] = {};
    for (const name of Object.keys(PARAMETERS)) {
      const key = name === 'C' ? 'featureWeight' : name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      if (o[key] !== undefined) overrides[name] = o[key];
    }
    let model: string = o.model;
    let layers: string[] = o.layer.length ? o.layer : ['features.4'];
    let sweeps: Sweep[] = (o.sweep as string[]).map(parseSweep);
    let title: string | undefined;
    const given = (name: string) => program.getOptionValueSource(name) === 'cli';
    if (o.experiment) {
      const ex = EXPERIMENTS[o.experiment];
      if (!ex) throw new UsageError(`unknown experiment '${o.experiment}' (expected one of: ${Object.keys(EXPERIMENTS).join(', ')})`);
      if (given('model') || given('layer') || sweeps.length) throw new UsageError(`--experiment ${o.experiment} sets --model, --layer and --sweep itself; drop them`);
      model = ex.model; layers = ex.layers; sweeps = ex.sweeps.map(parseSweep); title = ex.title;
    }
    checkModel(model);
    const out: string = o.out ?? `runs/${o.experiment ?? `${model}-${layers.join('+').replace(/[^A-Za-z0-9.+-]+/g, '_')}`}`;
    const spec: RunSpec = {
      model, weights: o.weights, layers, image: o.image, preset: o.preset, overrides, sweeps, out, size, resize,
      display: o.display, readEvery: int('read-every', o.readEvery, 1), command: ['preimage', ...argv].join(' '), title,
      verifyWeights: !!o.verifyWeights,
    };
    let stopRequested = false;
    const onSigint = () => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      console.error('\ninterrupted: stopping after saving finished cells (Ctrl-C again to quit now)');
    };
    process.on('SIGINT', onSigint);
    const bars: { ui: ReturnType<typeof progressUi> | null } = { ui: null };
    const result = await runInversions(spec, {
      log: (l) => (bars.ui ? bars.ui.log(l) : console.error(l)),
      warn: (l) => console.error(`\n!!! ${l}\n`),
      cellStart: (cell, _index, n) => {
        bars.ui ??= progressUi(n);
        const its = cell.settings.iterations + cell.settings.refineIterations;
        bars.ui.cellStart(`${cell.layer}${cell.column ? ` ${cell.column}` : ''}`, its);
      },
      cellProgress: (_c, p) => bars.ui?.cellUpdate(p.iteration, p.last ? `loss ${p.last.total.toExponential(3)} (${(p.secondsPerIteration * 1000).toFixed(0)} ms/it)` : ''),
      cellEnd: (cell, r, skipped) => {
        if (skipped) { (bars.ui ? bars.ui.log.bind(bars.ui) : console.error)(`skip ${cell.layer}${cell.column ? ` ${cell.column}` : ''}: already finished in ${out}`); return; }
        bars.ui?.cellDone();
        if (r.status === 'diverged') bars.ui?.log(`DIVERGED ${cell.layer} ${cell.column} at iteration ${r.divergedAt}`);
      },
      interrupted: () => stopRequested,
    });
    bars.ui?.stop();
    process.off('SIGINT', onSigint);
    const done = result.cells.filter((c) => c.status === 'done').length;
    const diverged = result.cells.filter((c) => c.status === 'diverged').length;
    console.error(`${done} done, ${diverged} diverged${result.interrupted ? ', interrupted' : ''}: ${result.outDir}/report.html, grid.png, results.json, cells/`);
    return result.exitCode;
  } catch (e) {
    if (e instanceof UsageError) { console.error(`preimage: error: ${e.message}`); return 2; }
    // Not the user's input: one line, and the stack only when asked for.
    console.error(`preimage: failed: ${(e as Error).message}${process.env.PREIMAGE_DEBUG ? `\n${(e as Error).stack}` : ' (set PREIMAGE_DEBUG=1 for the stack)'}`);
    return 1;
  }
}

