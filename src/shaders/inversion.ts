// Kernels specific to the inversion loop: the jitter crop (random shift per iteration, drawn
// on the GPU from the step counter so a replayed plan needs no CPU work), its gradient, and
// the per-pixel colour-norm box constraint of Mahendran & Vedaldi 2016.
import type { KernelSource } from '../engine/kernel.ts';
import { elementwiseMain, storeMaybeAccumulate } from './common.ts';

/**
 * offset[0..1] = (dy, dx) in [0, J). mode 0: a hash of (seed, step) — jitter; mode 1: fixed
 * (fixedY, fixedX) — the centre crop used to read the result.
 */
export function jitterOffset(): KernelSource {
  return {
    name: 'inversion.jitter_offset',
    key: 'inversion.jitter_offset',
    code: `struct U { amount: u32, seed: u32, mode: u32, fixedY: u32, fixedX: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> step: array<u32>;
@group(0) @binding(2) var<storage, read_write> offset: array<u32>;
fn hash(v: u32) -> u32 {
  var x = v;
  x = x ^ (x >> 16u); x = x * 0x7feb352du;
  x = x ^ (x >> 15u); x = x * 0x846ca68bu;
  return x ^ (x >> 16u);
}
@compute @workgroup_size(1)
fn main() {
  if (u.mode == 1u) { offset[0] = u.fixedY; offset[1] = u.fixedX; return; }
  let h = hash(u.seed ^ hash(step[0] + 0x9e3779b9u));
  offset[0] = (h & 0xffffu) % u.amount;
  offset[1] = (h >> 16u) % u.amount;
}`,
  };
}

const CROP_UNIFORMS = `struct U { count: u32, planes: u32, H: u32, W: u32, BH: u32, BW: u32, accumulate: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** y[p, i, j] = x[p, i + dy, j + dx]: crop an H×W window out of a BH×BW image. */
export function cropForward(): KernelSource {
  return {
    name: 'inversion.crop.forward',
    key: 'inversion.crop.forward',
    code: `${CROP_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> offset: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${elementwiseMain('u.count')}
  let j = i % u.W;
  let r = (i / u.W) % u.H;
  let p = i / (u.W * u.H);
  y[i] = x[(p * u.BH + r + offset[0]) * u.BW + j + offset[1]];
}`,
  };
}

/** Gradient of the crop: the window gets the upstream gradient, the margin gets 0. */
export function cropBackward(): KernelSource {
  return {
    name: 'inversion.crop.backward',
    key: 'inversion.crop.backward',
    code: `${CROP_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> offset: array<u32>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${elementwiseMain('u.count')}
  let j = i % u.BW;
  let r = (i / u.BW) % u.BH;
  let p = i / (u.BW * u.BH);
  var g = 0.0;
  let dy = offset[0];
  let dx = offset[1];
  if (r >= dy && r < dy + u.H && j >= dx && j < dx + u.W) {
    g = gradOutput[(p * u.H + r - dy) * u.W + j - dx];
  }
  ${storeMaybeAccumulate('gradInput[i]', 'g')}
}`,
  };
}

/** Scales each pixel's colour vector to norm ≤ bound (x ← x·min(bound/‖x‖, 1)). */
export function colourNormBound(): KernelSource {
  return {
    name: 'inversion.colour_norm_bound',
    key: 'inversion.colour_norm_bound',
    code: `struct U { count: u32, C: u32, HW: u32, pad0: u32, bound: f32, pad1: f32, pad2: f32, pad3: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
${elementwiseMain('u.count')}
  // i indexes pixels of the batch: n·HW + p.
  let n = i / u.HW;
  let p = i % u.HW;
  let base = n * u.C * u.HW + p;
  var s = 0.0;
  for (var c = 0u; c < u.C; c++) { let v = x[base + c * u.HW]; s += v * v; }
  let norm = sqrt(s);
  if (norm > u.bound) {
    let k = u.bound / norm;
    for (var c = 0u; c < u.C; c++) { x[base + c * u.HW] = x[base + c * u.HW] * k; }
  }
}`,
  };
}
