// Runs a set of inversions (layers × swept values) into an output folder: one PNG and one
// JSON per finished cell, written atomically with a hash of the cell's settings, so a rerun
// into the same folder skips finished cells and an interrupt loses none. Then the grid PNG,
// report.html and results.json.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createNodeGpu, describeAdapter } from './device.ts';
import { decodeImage, encodePng, readImage } from './images.ts';
import { resolveWeights, verifyCachedWeights } from './weights-source.ts';
import type { Gpu } from '../engine/gpu.ts';
import { loadModel, randomStateDict, type LoadedModel } from '../models/network.ts';
import { checkStateDict } from '../models/weights/check.ts';
import type { StateDict } from '../models/weights/types.ts';
import { architecture, expectedParameters, listTaps, resolveTap, tapInfo } from '../models/taps.ts';
import { readStateDict } from '../models/weights/index.ts';
import { weightsEntry } from '../models/weights/catalog.ts';
import { DivergedError, Inversion, type Progress } from '../invert/inversion.ts';
import { applyOverrides, parseParameter, presetSettings, PARAMETERS, PRESET_SOURCES, type InversionSettings } from '../invert/settings.ts';
import { centerCrop, preprocess, quantize8, resizeShorterSide, type DisplayMode, type RgbImage } from '../invert/image.ts';
import { makeGrid, stackVertically } from '../invert/grid.ts';
import { renderReport, type CellReport, type RunReport } from '../invert/report.ts';

/** Bad input from the user: the CLI prints the message alone and exits 2. */
export class UsageError extends Error {}

export interface Sweep { param: string; values: number[]; raw: string[] }

export interface RunSpec {
  model: string;
  /** A path, 'random', 'download', or undefined (torchvision's cache / weights/, else random with a warning). */
  weights?: string;
  layers: string[];
  image: string;
  preset: string;
  overrides: Record<string, number | number[] | string>;
  sweeps: Sweep[];
  out: string;
  size: number;
  resize: number;
  display: DisplayMode;
  readEvery: number;
  command: string;
  title?: string;
  /** Hash the whole cached torchvision file against its published sha256 before use. */
  verifyWeights?: boolean;
}

export interface CellPlan {
  id: string; layer: string; column: string; settings: InversionSettings; hash: string;
  sweepValues: Record<string, number>;
}

export interface RunEvents {
  log?: (line: string) => void;
  warn?: (line: string) => void;
  cellStart?: (cell: CellPlan, index: number, total: number) => void;
  cellProgress?: (cell: CellPlan, p: Progress) => void;
  cellEnd?: (cell: CellPlan, report: CellReport, skipped: boolean) => void;
  /** Polled between chunks of iterations; true stops the run after saving what is finished. */
  interrupted?: () => boolean;
}

export interface RunResult { exitCode: number; cells: CellReport[]; outDir: string; interrupted: boolean }

const usage = (msg: string): never => { throw new UsageError(msg); };

/** Expands `a..b` (inclusive, in execution order) and comma lists into tap names, checking each. */
export function expandLayers(model: string, spec: string[]): string[] {
  const names = listTaps(model).map((t) => t.name);
  const out: string[] = [];
  for (const part of spec.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)) {
    const range = part.split('..');
    if (range.length === 2) {
      const [a, b] = range.map((n) => { try { return resolveTap(model, n); } catch (e) { return usage((e as Error).message); } });
      const i = names.indexOf(a), j = names.indexOf(b);
      if (i > j) usage(`layer range '${part}': ${a} comes after ${b}`);
      out.push(...names.slice(i, j + 1));
    } else {
      try { out.push(resolveTap(model, part)); } catch (e) { usage((e as Error).message); }
    }
  }
  if (!out.length) usage('no layers given (use --layer NAME, a comma list, or FIRST..LAST)');
  return [...new Set(out)];
}

/** Parses `name=v1,v2,...` into a sweep over one parameter. */
export function parseSweep(text: string): Sweep {
  const eq = text.indexOf('=');
  if (eq < 1) usage(`--sweep '${text}': expected PARAM=V1,V2,… (e.g. lambda-alpha=1e-7,1e-6,1e-5)`);
  const param = text.slice(0, eq).trim().replace(/_/g, '-');
  if (!PARAMETERS[param]) usage(`--sweep '${text}': unknown parameter '${param}' (expected one of: ${Object.keys(PARAMETERS).join(', ')})`);
  const raw = text.slice(eq + 1).split(',').map((s) => s.trim());
  if (!raw.length || raw.some((r) => r === '')) usage(`--sweep '${text}': empty value`);
  const values = raw.map((r) => {
    try {
      const v = parseParameter(param, r);
      if (typeof v !== 'number') usage(`--sweep: '${param}' cannot be swept (only numeric parameters)`);
      return v as number;
    } catch (e) {
      if (e instanceof UsageError) throw e;
      return usage(`--sweep ${(e as Error).message.replace(/^--/, '')}`);
    }
  });
  return { param, values, raw };
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const safeName = (s: string) => s.replace(/[^A-Za-z0-9._=+-]+/g, '_');

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Cartesian product of the sweeps: one entry per grid column. */
function columns(sweeps: Sweep[]): { label: string; values: Record<string, number> }[] {
  let cols: { label: string; values: Record<string, number> }[] = [{ label: '', values: {} }];
  for (const s of sweeps) {
    cols = cols.flatMap((c) => s.values.map((v, k) => ({
      label: [c.label, `${s.param}=${s.raw[k]}`].filter(Boolean).join(' '),
      values: { ...c.values, [s.param]: v },
    })));
  }
  return cols;
}

export function planCells(spec: RunSpec, identity: { weights: string; image: string }): CellPlan[] {
  const layers = expandLayers(spec.model, spec.layers);
  for (const layer of layers) {
    try { tapInfo(spec.model, layer, [1, 3, spec.size, spec.size]); } catch (e) {
      usage(`--size ${spec.size} is too small for ${spec.model} ${layer}: ${(e as Error).message}`);
    }
  }
  const cols = columns(spec.sweeps);
  const cells: CellPlan[] = [];
  for (const layer of layers) {
    for (const col of cols) {
      let settings: InversionSettings;
      try {
        settings = applyOverrides(presetSettings(spec.preset, spec.model, layer), { ...spec.overrides, ...col.values });
      } catch (e) {
        return usage((e as Error).message);
      }
      const id = safeName(col.label ? `${layer}__${col.label.replace(/ /g, '__')}` : layer);
      const hash = sha256(JSON.stringify({ v: 1, model: spec.model, weights: identity.weights, image: identity.image, size: spec.size, resize: spec.resize, layer, settings, display: spec.display }));
      cells.push({ id, layer, column: col.label, settings, hash, sweepValues: col.values });
    }
  }
  return cells;
}

interface PreparedWeights { sd: StateDict; weights: LoadedModel['weights']; identity: string; fileName: string }

/** Finds, reads and checks the weights on the CPU (before anything is written or the GPU starts). */
async function prepareWeights(spec: RunSpec, ev: RunEvents): Promise<PreparedWeights> {
  const name = architecture(spec.model).name;
  const random = (why: string): PreparedWeights => {
    ev.warn?.(`RANDOM WEIGHTS: ${why}. Results show what a randomly initialised ${name} keeps, not a trained one.`);
    return { sd: randomStateDict(name, 0), weights: { kind: 'random', description: `seeded random initialisation (seed 0): ${why}` }, identity: 'random:0', fileName: 'random' };
  };
  if (spec.weights === 'random') return random('--weights random was given');
  let resolved;
  try {
    resolved = await resolveWeights({ model: name, weights: spec.weights === 'download' ? undefined : spec.weights, download: spec.weights === 'download' });
  } catch (e) {
    const msg = (e as Error).message;
    if (spec.weights === undefined && /downloading is off/.test(msg)) {
      const entry = weightsEntry(name);
      return random(`no torchvision weights found (${entry.file}); ${msg.split(': ').slice(1).join(': ').replace(/, or use --weights random$/, '')}, or pass --weights download`);
    }
    return usage(msg);
  }
  if (spec.verifyWeights && (resolved.source === 'torch-cache' || resolved.source === 'project')) {
    try { await verifyCachedWeights(resolved.path, resolved.entry); } catch (e) { return usage((e as Error).message); }
    ev.log?.(`verified ${resolved.path}: sha256 ${resolved.entry.sha256.slice(0, 12)}… matches`);
  }
  const fileName = basename(resolved.path);
  const st = statSync(resolved.path);
  let sd: StateDict;
  try {
    sd = readStateDict(new Uint8Array(readFileSync(resolved.path)), fileName);
    checkStateDict(sd, expectedParameters(name), { optional: (k) => k.endsWith('num_batches_tracked'), fileName, modelName: name });
  } catch (e) { return usage((e as Error).message); }
  const kind = resolved.source === 'explicit' ? 'file' : 'pretrained';
  return { sd, weights: { kind, description: `${resolved.path} (${resolved.source})` }, identity: `${resolved.path}:${st.size}:${st.mtimeMs}`, fileName };
}

function loadImage(spec: RunSpec): Promise<RgbImage> {
  return readImage(spec.image).catch((e: Error) => usage(e.message));
}

/** The preprocessed original as an RGB image in [0, 1] (what PSNR/SSIM compare against). */
function displayedOriginal(img: RgbImage, spec: RunSpec): RgbImage {
  return centerCrop(resizeShorterSide(quantize8(img), spec.resize, { quantize: true }), spec.size, spec.size);
}

function readCell(dir: string, cell: CellPlan): CellReport | null {
  const path = join(dir, 'cells', `${cell.id}.json`);
  if (!existsSync(path)) return null;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as CellReport & { hash: string };
    if (j.hash !== cell.hash || (j.status !== 'done' && j.status !== 'diverged')) return null;
    const png = join(dir, 'cells', `${cell.id}.png`);
    if (j.status === 'done') {
      if (!existsSync(png)) return null;
      j.pngBase64 = readFileSync(png).toString('base64');
    }
    return j;
  } catch {
    return null; // unreadable: recompute
  }
}

export async function runInversions(spec: RunSpec, ev: RunEvents = {}): Promise<RunResult> {
  // Everything the user typed is checked before the GPU starts.
  const arch = architecture(spec.model);
  const image = await loadImage(spec);
  const imageBytes = readFileSync(spec.image);
  planCells(spec, { weights: '', image: '' }); // layers and settings, before reading weights

  const prepared = await prepareWeights(spec, ev);
  const cells = planCells(spec, { weights: prepared.identity, image: sha256(imageBytes) });
  const outDir = resolve(spec.out);
  try { mkdirSync(join(outDir, 'cells'), { recursive: true }); } catch (e) { usage(`cannot create output folder ${spec.out}: ${(e as Error).message}`); }
  const startedAt = new Date().toISOString();
  const gpu = await createNodeGpu();
  const reports: CellReport[] = [];
  let interrupted = false;
  let model: LoadedModel | null = null;
  try {
    model = loadModel(gpu, architecture(spec.model).name, prepared.sd, prepared.weights, prepared.fileName);
    const target = preprocess(image, { resize: spec.resize, crop: spec.size });
    const original = displayedOriginal(image, spec);
    let anyDiverged = false;
    ev.log?.(`${cells.length} cell(s): ${arch.name} ${[...new Set(cells.map((c) => c.layer))].join(', ')}${spec.sweeps.length ? ` × ${spec.sweeps.map((s) => `${s.param} ∈ {${s.raw.join(', ')}}`).join(' × ')}` : ''}; adapter ${describeAdapter(gpu)}`);
    for (const [index, cell] of cells.entries()) {
      const previous = readCell(outDir, cell);
      if (previous) {
        reports.push(previous);
        anyDiverged ||= previous.status === 'diverged';
        ev.cellEnd?.(cell, previous, true);
        continue;
      }
      if (ev.interrupted?.()) { interrupted = true; break; }
      ev.cellStart?.(cell, index, cells.length);
      let report: CellReport | null;
      try {
        report = await runCell(gpu, model, spec, cell, target, original, ev);
      } catch (e) {
        // An engine failure (lost device, out of memory): keep the finished cells' summary, then fail.
        try { writeSummary(outDir, spec, model, gpu, cells, reports, original, startedAt); } catch { /* the original error matters */ }
        throw new Error(`${cell.layer}${cell.column ? ` ${cell.column}` : ''}: ${(e as Error).message} (finished cells are kept in ${spec.out})`, { cause: e });
      }
      if (report === null) { interrupted = true; break; }
      anyDiverged ||= report.status === 'diverged';
      const { pngBase64, ...stored } = report;
      writeAtomic(join(outDir, 'cells', `${cell.id}.json`), JSON.stringify({ ...stored, hash: cell.hash }, null, 1));
      reports.push(report);
      ev.cellEnd?.(cell, report, false);
    }
    writeSummary(outDir, spec, model, gpu, cells, reports, original, startedAt);
    return { exitCode: interrupted ? 130 : anyDiverged ? 3 : 0, cells: reports, outDir, interrupted };
  } finally {
    model?.destroy();
    gpu.destroy();
  }
}

async function runCell(gpu: Gpu, model: LoadedModel, spec: RunSpec, cell: CellPlan, target: Float32Array, original: RgbImage, ev: RunEvents): Promise<CellReport | null> {
  const base: CellReport = { id: cell.id, layer: cell.layer, column: cell.column, status: 'pending', history: [], settings: { ...cell.settings } };
  let inv: Inversion | null = null;
  try {
    inv = await Inversion.create(gpu, { model, tap: cell.layer, target, height: spec.size, width: spec.size, settings: cell.settings, readEvery: spec.readEvery });
    while (inv.iteration < inv.totalIterations) {
      if (ev.interrupted?.()) return null;
      await inv.step(10, (p) => ev.cellProgress?.(cell, p));
    }
    const img = await inv.image(spec.display);
    const png = encodePng(img);
    writeAtomic(join(resolve(spec.out), 'cells', `${cell.id}.png`), png);
    return { ...base, status: 'done', history: inv.history, pngBase64: Buffer.from(png).toString('base64'), metrics: await inv.metrics(original) };
  } catch (e) {
    if (e instanceof DivergedError) {
      return { ...base, status: 'diverged', divergedAt: e.iteration, message: e.message, history: inv?.history ?? [] };
    }
    throw e;
  } finally {
    inv?.destroy();
  }
}

function writeSummary(outDir: string, spec: RunSpec, model: LoadedModel, gpu: Gpu, cells: CellPlan[], reports: CellReport[], original: RgbImage, startedAt: string): void {
  const byId = new Map(reports.map((r) => [r.id, r]));
  const layers = [...new Set(cells.map((c) => c.layer))];
  const cols = [...new Set(cells.map((c) => c.column))];
  const decode = (r: CellReport | undefined): RgbImage | null => {
    if (!r || r.status !== 'done') return null;
    const path = join(outDir, 'cells', `${r.id}.png`);
    return existsSync(path) ? decodeImage(readFileSync(path), path) : null;
  };
  // No sweep: each --layer group is one row of layers, as the seed note's figures show them
  // (the original and the title on the first row only).
  const groups = spec.layers.map((g) => expandLayers(spec.model, [g]));
  const grid = cols.length === 1 && cols[0] === ''
    ? stackVertically(groups.map((group, k) => makeGrid({
      cells: [group.map((l) => decode(byId.get(cells.find((c) => c.layer === l)!.id)))], rowLabels: [''], colLabels: group,
      original: k === 0 ? original : undefined, cellSize: 160, title: k === 0 ? titleOf(spec, model) : undefined,
    })))
    : makeGrid({ cells: layers.map((l) => cols.map((c) => decode(byId.get(cells.find((x) => x.layer === l && x.column === c)!.id)))), rowLabels: layers, colLabels: cols, original, cellSize: 160, title: titleOf(spec, model) });
  const gridPng = encodePng(grid);
  writeAtomic(join(outDir, 'grid.png'), gridPng);
  const report: RunReport = {
    title: titleOf(spec, model), command: spec.command, model: model.name, weights: model.weights, adapter: describeAdapter(gpu),
    image: spec.image, preset: `${spec.preset}: ${PRESET_SOURCES[spec.preset]}`, gridPngBase64: Buffer.from(gridPng).toString('base64'),
    cells: cells.map((c) => byId.get(c.id) ?? { id: c.id, layer: c.layer, column: c.column, status: 'pending', history: [], settings: { ...c.settings } }),
    startedAt, finishedAt: new Date().toISOString(),
  };
  writeAtomic(join(outDir, 'report.html'), renderReport(report));
  const results = {
    ...report, gridPngBase64: undefined,
    cells: report.cells.map(({ pngBase64, ...c }) => ({ ...c, png: c.status === 'done' ? `cells/${c.id}.png` : null })),
  };
  writeAtomic(join(outDir, 'results.json'), JSON.stringify(results, null, 1));
}

function titleOf(spec: RunSpec, model: LoadedModel): string {
  const random = model.weights.kind === 'random' ? ' — RANDOM WEIGHTS' : '';
  return spec.title ? `${spec.title}${random}` : `${model.name} inversion of ${basename(spec.image)} (${spec.preset})${random}`;
}
