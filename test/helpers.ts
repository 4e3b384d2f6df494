// Shared test helpers: one Dawn device per test file, seeded random data, uploads.
import { afterAll } from 'vitest';
import { createNodeGpu } from '../src/node/device.ts';
import type { Gpu } from '../src/engine/gpu.ts';
import { Tape } from '../src/engine/tape.ts';
import type { Tensor } from '../src/engine/tensor.ts';
import { mulberry32 } from '../src/engine/random.ts';

let gpuPromise: Promise<Gpu> | null = null;

export function testGpu(): Promise<Gpu> {
  if (!gpuPromise) {
    gpuPromise = createNodeGpu();
    afterAll(async () => { (await gpuPromise!).destroy(); gpuPromise = null; });
  }
  return gpuPromise;
}

/** Seeded PRNG for test data (the engine's Mulberry32). */
export const rng = mulberry32;

/** Fresh seed per run (printed by the caller on failure), or TEST_SEED to replay one. */
export function freshSeed(): number {
  return process.env.TEST_SEED ? Number(process.env.TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
}

export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export function uniform(r: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export const f64 = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);

export function poisonedTape(gpu: Gpu, label = 'test'): Tape {
  return new Tape(gpu, { poison: true, label });
}

export async function read(tape: Tape, t: Tensor): Promise<Float32Array> {
  return tape.read(t);
}
