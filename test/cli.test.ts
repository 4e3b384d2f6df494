// The preimage command as a user runs it: every bad-input error is one line and exit 2; a
// small real run writes its files; divergence is caught per cell; an interrupted or killed
// sweep resumes without recomputing or losing finished cells.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'preimage.js');
const tmp = () => mkdtempSync(join(tmpdir(), 'preimage-cli-'));
const env = { ...process.env, TORCH_HOME: join(tmpdir(), 'preimage-no-torch-home') };
const SMALL = ['--size', '64', '--resize', '64', '--weights', 'random'];

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env, encoding: 'utf8', timeout: 300_000 });
  const errLines = r.stderr.split('\n').filter((l) => l.trim() && !/maxDynamic.*artificially reduced/.test(l));
  return { code: r.status, stdout: r.stdout, stderr: errLines.join('\n'), errLines };
}

describe('CLI errors: one line, exit 2', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown model', ['--model', 'vgg16'], /^preimage: error: unknown model 'vgg16' \(expected one of: alexnet, resnet50\)$/],
    ['unknown layer lists the nearest valid ones', ['--layer', 'features.13'], /^preimage: error: unknown layer 'features\.13' for alexnet; nearest: features\.1\d, .*--list-layers alexnet\)$/],
    ['ambiguous Bottleneck relu', ['--model', 'resnet50', '--layer', 'layer3.2.relu'], /layer3\.2\.relu1 \(after bn1\), layer3\.2\.relu2 \(after bn2\) or layer3\.2\.relu3/],
    ['missing image', ['--image', 'no/such.png'], /^preimage: error: cannot read image 'no\/such\.png': no such file$/],
    ['unreadable image', ['--image', 'package.json'], /^preimage: error: cannot read image 'package\.json': not an image \(expected PNG or JPEG\)$/],
    ['unknown preset', ['--preset', 'fast'], /^preimage: error: unknown preset 'fast' \(expected one of: seed, mahendran2015, mahendran2016\)$/],
    ['bad number', ['--lambda-alpha', '1e-5x'], /^preimage: error: --lambda-alpha: '1e-5x' is not a number$/],
    ['bad integer', ['--iterations', '-3'], /^preimage: error: --iterations: '-3' is not a non-negative integer$/],
    ['bad sweep', ['--sweep', 'lambda-tv'], /^preimage: error: --sweep 'lambda-tv': expected PARAM=V1,V2,…/],
    ['bad sweep value', ['--sweep', 'lambda-tv=1e-5,big'], /^preimage: error: --sweep lambda-tv: 'big' is not a number$/],
    ['unknown swept parameter', ['--sweep', 'gamma=1,2'], /^preimage: error: --sweep 'gamma=1,2': unknown parameter 'gamma'/],
    ['unknown experiment', ['--experiment', 'mine'], /^preimage: error: unknown experiment 'mine' \(expected one of: alexnet-layers,/],
    ['reversed layer range', ['--layer', 'features.4..features.1'], /^preimage: error: layer range 'features\.4\.\.features\.1': features\.4 comes after features\.1$/],
    ['missing weights file', ['--weights', '/nope/alexnet.pth'], /^preimage: error: weights file \/nope\/alexnet\.pth does not exist$/],
    ['weights of the wrong model', ['--weights', 'test/fixtures/weights/f32_convbn.pth'], /^preimage: error: weights 'f32_convbn\.pth' do not match alexnet: \d+ missing/],
    ['unknown option', ['--lamda-tv', '1'], /^preimage: error: unknown option '--lamda-tv' \(Did you mean --lambda-tv\?\)$/],
    ['bad --display', ['--display', 'pretty'], /^preimage: error: --display: 'pretty' is not clip or minmax$/],
    ['an input too small for the layer', ['--layer', 'features.12', '--size', '32', '--resize', '32'], /^preimage: error: --size 32 is too small for alexnet features\.12: features\.12: input 1×1 is too small for a 3×3 window$/],
    ['--list-layers of an unknown model', ['--list-layers', 'vgg'], /^preimage: error: unknown model 'vgg'/],
  ];
  for (const [what, args, re] of cases) {
    it(what, () => {
      const out = tmp();
      const r = run([...args, '--out', out, ...(args.includes('--weights') ? [] : ['--weights', 'random'])]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.errLines.length, r.stderr).toBe(1);
      expect(r.errLines[0]).toMatch(re);
      expect(readdirSync(out)).toEqual([]); // nothing written
    });
  }

  it('--help shows examples; --list-layers prints every tap with op and shape', () => {
    const h = run(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Examples:\n  preimage --model alexnet/);
    const l = run(['--list-layers', 'resnet50']);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/^layer3\.2\.relu2 +ReLU \(relu, 2nd application\) +\[1, 256, 14, 14\]$/m);
    expect(l.stdout.trim().split('\n')).toHaveLength(179);
  });
});

describe('CLI runs', () => {
  it('writes cells, grid, report and results; says RANDOM WEIGHTS loudly', () => {
    const out = tmp();
    const r = run(['--layer', 'features.0,features.1', '--iterations', '4', '--read-every', '2', '--out', out, ...SMALL]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/RANDOM WEIGHTS/);
    for (const f of ['grid.png', 'report.html', 'results.json', 'cells/features.0.png', 'cells/features.1.json']) expect(existsSync(join(out, f)), f).toBe(true);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/RANDOM WEIGHTS/);
    expect(html).toMatch(/<svg[^>]*aria-label="loss curve"/);
    expect(html).toMatch(/llvmpipe|adapter/);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(res.weights.kind).toBe('random');
    expect(res.cells).toHaveLength(2);
    for (const c of res.cells) {
      expect(c.status).toBe('done');
      expect(c.history.map((p: { iteration: number }) => p.iteration)).toEqual([0, 2, 3]);
      expect(c.metrics.iterations).toBe(4);
      expect(Number.isFinite(c.metrics.psnr) && Number.isFinite(c.metrics.ssim) && c.metrics.featureError > 0).toBe(true);
      expect(c.settings.lambdaAlpha).toBe(1e-5);
    }
  });

  it('a diverging cell is marked with its iteration, the others go on, exit code 3', () => {
    const out = tmp();
    const r = run(['--layer', 'features.0', '--iterations', '6', '--read-every', '1', '--sweep', 'lr=1e2,1e30', '--out', out, ...SMALL]);
    expect(r.code, r.stderr).toBe(3);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const [ok, bad] = res.cells;
    expect(ok.status).toBe('done');
    expect(bad.status).toBe('diverged');
    expect(bad.divergedAt).toBeGreaterThanOrEqual(1);
    expect(bad.divergedAt).toBeLessThan(6);
    expect(existsSync(join(out, 'cells', `${bad.id}.png`))).toBe(false);
  });

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`${signal} mid-sweep loses no finished cell; the rerun recomputes nothing finished`, async () => {
      const out = tmp();
      const args = [bin, '--layer', 'features.0..features.3', '--iterations', '40', '--out', out, ...SMALL];
      const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const cells = join(out, 'cells');
      const t0 = Date.now();
      while (!(existsSync(cells) && readdirSync(cells).some((f) => f.endsWith('.json')))) {
        if (Date.now() - t0 > 240_000 || child.exitCode !== null) throw new Error(`no cell finished: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill(signal);
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      if (signal === 'SIGINT') expect(code).toBe(130);
      const finished = readdirSync(cells).filter((f) => f.endsWith('.json'));
      expect(finished.length).toBeGreaterThanOrEqual(1);
      expect(finished.length).toBeLessThan(4);
      expect(readdirSync(cells).some((f) => f.includes('.tmp-'))).toBe(false);
      const before = new Map(finished.map((f) => [f, { m: statSync(join(cells, f)).mtimeMs, c: readFileSync(join(cells, f), 'utf8') }]));
      if (signal === 'SIGINT') expect(existsSync(join(out, 'report.html'))).toBe(true);
      const r = run(args.slice(1));
      expect(r.code, r.stderr).toBe(0);
      for (const [f, b] of before) {
        expect(statSync(join(cells, f)).mtimeMs).toBe(b.m);
        expect(readFileSync(join(cells, f), 'utf8')).toBe(b.c);
        expect(r.stderr).toContain(`skip ${f.replace('.json', '')}: already finished`);
      }
      const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      expect(res.cells.map((c: { status: string }) => c.status)).toEqual(['done', 'done', 'done', 'done']);
    });
  }

  it('--verify-weights refuses a cached file whose bytes are not the published ones', () => {
    const home = tmp();
    mkdirSync(join(home, 'hub', 'checkpoints'), { recursive: true });
    writeFileSync(join(home, 'hub', 'checkpoints', 'alexnet-owt-7be5be79.pth'), 'not the real file');
    const out = tmp();
    const r = spawnSync(process.execPath, [bin, '--verify-weights', '--out', out, ...SMALL.filter((a) => a !== '--weights' && a !== 'random')], { cwd: root, env: { ...env, TORCH_HOME: home }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/preimage: error: weights file .*alexnet-owt-7be5be79\.pth has 17 bytes, expected 244408911/);
  });

  it('changing a setting invalidates a finished cell (its hash differs)', () => {
    const out = tmp();
    expect(run(['--layer', 'features.0', '--iterations', '2', '--out', out, ...SMALL]).code).toBe(0);
    const again = run(['--layer', 'features.0', '--iterations', '3', '--out', out, ...SMALL]);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('skip features.0');
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(res.cells[0].metrics.iterations).toBe(3);
    writeFileSync(join(out, 'cells', 'features.0.json'), '{ truncated');
    const third = run(['--layer', 'features.0', '--iterations', '3', '--out', out, ...SMALL]);
    expect(third.code).toBe(0); // an unreadable cell file is recomputed, not trusted
    expect(third.stderr).not.toContain('skip features.0');
  });
});
