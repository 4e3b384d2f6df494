// Shared bench helpers: timing a command list, the PyTorch reference run, writing results.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Gpu } from '../src/engine/gpu.ts';
import { describeAdapter } from '../src/node/device.ts';

/** First run alone (compile + run), then the median ms per copy over batches of copies in one submit. */
export async function timeCommands(gpu: Gpu, cmds: readonly Command[], label: string, repeats = 5, targetMs = 150): Promise<{ ms: number; first: number }> {
  const t0 = performance.now();
  await gpu.run(cmds, label);
  const first = performance.now() - t0;
  const t1 = performance.now();
  await gpu.run(cmds, label);
  const one = Math.max(performance.now() - t1, 0.05);
  const copies = Math.max(1, Math.min(200, Math.round(targetMs / one)));
  const batch = Array.from({ length: copies }, () => cmds).flat();
  const samples: number[] = [];
  for (let k = 0; k < repeats; k++) {
    const s = performance.now();
    await gpu.run(batch, label);
    samples.push((performance.now() - s) / copies);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(samples.length / 2)], first };
}

/** Runs bench/torch_bench.py in this same process run; null (with a note) where torch is missing. */
export function torchReference(only: 'model' | 'inversion', extra: string[] = []): any | null {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
  } catch {
    console.log('(PyTorch not available at /usr/bin/python3: no reference column; install python3-torch python3-torchvision)');
    return null;
  }
  const out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'torch_bench.py'), '--json', '--only', only, ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_800_000 });
  return JSON.parse(out);
}

export function writeResults(name: string, gpu: Gpu, body: object): string {
  const adapter = describeAdapter(gpu);
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const slug = adapter.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
  const file = join(dir, `${name}-${slug}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify({ date: new Date().toISOString(), adapter: gpu.adapter, ...body }, null, 1));
  renameSync(`${file}.tmp`, file);
  return file;
}
