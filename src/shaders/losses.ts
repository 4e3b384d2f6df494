// Loss and regularizer kernels. Each computes, in one pass, its per-sample value (as
// per-workgroup partial sums) and its weighted gradient, added into the input's gradient.
// A second tiny pass (sumPartials) adds the partials in a fixed order: the reduction is
// deterministic, bit for bit, on a given device.
import type { KernelSource } from '../engine/kernel.ts';
import { UDIV_F32, WORKGROUP_1D, storeMaybeAccumulate } from './common.ts';

/** Elements of one sample handled by one workgroup (each thread takes LOSS_ITEMS of them). */
export const LOSS_ITEMS = 16;
export const LOSS_CHUNK = WORKGROUP_1D * LOSS_ITEMS;
/** Partial sums written per workgroup (one per thread): sumPartials adds chunks · LOSS_PARTIALS_PER_CHUNK per sample. */
export const LOSS_PARTIALS_PER_CHUNK = WORKGROUP_1D;

const LOSS_UNIFORMS = `struct U {
  perSample: u32, chunks: u32, C: u32, H: u32,
  W: u32, writeGrad: u32, accumulate: u32, targetBatch: u32,
  weight: f32, exponent: f32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> u: U;`;

/**
 * Wraps a per-element body in the chunked partial-sum skeleton. The body sees `n` (sample),
 * `e` (element index inside the sample, < u.perSample), `g` = n·perSample + e, and must set
 * `value`; `setup` runs once per thread before the element loop. Each thread adds its
 * LOSS_ITEMS elements (strided by the workgroup size, so neighbouring lanes read neighbouring
 * elements) in order and writes its own partial: no workgroup memory or barriers, which cost
 * more than they save on llvmpipe (FACTS.md). sumPartials then adds the partials in a fixed order.
 */
function lossKernel(name: string, bindings: string, helpers: string, body: string, setup = ''): KernelSource {
  return {
    name,
    key: `${name}.partials${LOSS_ITEMS}`,
    code: `${LOSS_UNIFORMS}
${bindings}
@group(0) @binding(9) var<storage, read_write> partials: array<f32>;
${UDIV_F32}
${helpers}
@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let chunk = wg.x;
  let n = wg.y;
  ${setup}
  var sum = 0.0;
  for (var k = 0u; k < ${LOSS_ITEMS}u; k++) {
    let e = chunk * ${LOSS_CHUNK}u + k * ${WORKGROUP_1D}u + lid;
    if (e >= u.perSample) { break; }
    let g = n * u.perSample + e;
    var value = 0.0;
    ${body}
    sum += value;
  }
  partials[(n * u.chunks + chunk) * ${LOSS_PARTIALS_PER_CHUNK}u + lid] = sum;
}`,
  };
}

/**
 * ||Φ − Φ0||² / ||Φ0||² per sample. `targetNorm` holds ||Φ0||² per target sample; a target
 * of batch 1 is shared by every sample. Gradient: weight · 2(Φ − Φ0) / ||Φ0||².
 */
export function featureDistanceKernel(): KernelSource {
  return lossKernel(
    'loss.feature_distance',
    `@group(0) @binding(1) var<storage, read> features: array<f32>;
@group(0) @binding(2) var<storage, read> target0: array<f32>;
@group(0) @binding(3) var<storage, read> targetNorm: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradFeatures: array<f32>;`,
    '',
    `let d = features[g] - target0[tb + e];
    value = d * d * invNorm;
    if (u.writeGrad != 0u) {
      let gv = gScale * d;
      ${storeMaybeAccumulate('gradFeatures[g]', 'gv')}
    }`,
    `let tn = n % u.targetBatch;
  let tb = tn * u.perSample;
  let invNorm = 1.0 / targetNorm[tn];
  let gScale = u.weight * 2.0 * invNorm;`,
  );
}

/** Σ |x|^α, gradient weight·α·|x|^(α−1)·sign(x). α = 2 is computed as x·x (used for ||Φ0||²). */
export function alphaNormKernel(): KernelSource {
  return lossKernel(
    'regularizer.alpha_norm',
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradX: array<f32>;`,
    '',
    `let v = x[g];
    let a = abs(v);
    // One pow: |x|^α = |x|^(α−1)·|x| (and 0 at x = 0 either way).
    var p = a;
    if (u.exponent != 2.0) { p = pow(a, u.exponent - 1.0); }
    value = p * a;
    if (u.writeGrad != 0u) {
      var gv = 0.0;
      if (a > 0.0) { gv = u.weight * u.exponent * p * sign(v); }
      ${storeMaybeAccumulate('gradX[g]', 'gv')}
    }`,
  );
}

/**
 * Per-pixel α-norm Σ_pixels (Σ_channels x²)^(α/2) (Mahendran & Vedaldi 2016); element e is
 * a pixel, the thread loops over channels. Gradient weight·α·s^(α/2−1)·x_c, 0 where s = 0.
 */
export function pixelAlphaNormKernel(): KernelSource {
  return lossKernel(
    'regularizer.pixel_alpha_norm',
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradX: array<f32>;`,
    '',
    `let hw = u.H * u.W;
    let base = n * u.C * hw + e;
    var s = 0.0;
    for (var c = 0u; c < u.C; c++) { let v = x[base + c * hw]; s += v * v; }
    value = pow(s, 0.5 * u.exponent);
    if (u.writeGrad != 0u) {
      var f = 0.0;
      if (s > 0.0) { f = u.weight * u.exponent * pow(s, 0.5 * u.exponent - 1.0); }
      for (var c = 0u; c < u.C; c++) {
        let idx = base + c * hw;
        let gv = f * x[idx];
        ${storeMaybeAccumulate('gradX[idx]', 'gv')}
      }
    }`,
  );
}

/**
 * Total variation Σ ((x[i,j+1]−x[i,j])² + (x[i+1,j]−x[i,j])²)^(β/2) over every channel, with a
 * replicated border (differences past the last row/column are 0). The gradient at (i,j)
 * gathers the three terms that contain x[i,j]: its own, (i,j−1)'s and (i−1,j)'s.
 */
export function totalVariationKernel(): KernelSource {
  return lossKernel(
    'regularizer.total_variation',
    `@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradX: array<f32>;`,
    `// d(term)/d(s) · 2 where s = dx² + dy²: β·s^(β/2−1); 0 where s = 0 (all differences are 0 there).
fn slope(s: f32) -> f32 {
  if (s > 0.0) {
    if (u.exponent == 2.0) { return 2.0; }
    return u.exponent * pow(s, 0.5 * u.exponent - 1.0);
  }
  return 0.0;
}`,
    `let rowIndex = udivf(e, u.W, invW);
    let j = e - rowIndex * u.W;
    let i = rowIndex - udivf(rowIndex, u.H, invH) * u.H;
    // The neighbours the three terms containing x[i,j] read; differences past the last
    // row/column are 0 (replicated border), so an out-of-range neighbour reads as x[i,j].
    let hasR = j + 1u < u.W; let hasL = j > 0u; let hasD = i + 1u < u.H; let hasU = i > 0u;
    let c = x[g];
    let xr = select(c, x[select(g, g + 1u, hasR)], hasR);
    let xd = select(c, x[select(g, g + u.W, hasD)], hasD);
    let dx = xr - c; let dy = xd - c;
    let s = dx * dx + dy * dy;
    if (u.exponent == 2.0) { value = s; } else { value = pow(s, 0.5 * u.exponent); }
    if (u.writeGrad != 0u) {
      var gv = -slope(s) * (dx + dy);
      if (hasL) {
        // Term (i, j−1): dx = c − x[i, j−1], dy = x[i+1, j−1] − x[i, j−1].
        let xl = x[g - 1u];
        let xdl = select(xl, x[select(g, g + u.W - 1u, hasD)], hasD);
        let ldx = c - xl; let ldy = xdl - xl;
        gv += slope(ldx * ldx + ldy * ldy) * ldx;
      }
      if (hasU) {
        // Term (i−1, j): dx = x[i−1, j+1] − x[i−1, j], dy = c − x[i−1, j].
        let xu = x[g - u.W];
        let xur = select(xu, x[select(g, g - u.W + 1u, hasR)], hasR);
        let udx = xur - xu; let udy = c - xu;
        gv += slope(udx * udx + udy * udy) * udy;
      }
      gv *= u.weight;
      ${storeMaybeAccumulate('gradX[g]', 'gv')}
    }`,
    `let invW = 1.0 / f32(u.W);
  let invH = 1.0 / f32(u.H);`,
  );
}

/** out[n·stride + offset] = Σ partials of sample n, in a fixed order (one workgroup per sample). */
export function sumPartials(): KernelSource {
  return {
    name: 'loss.sum_partials',
    key: 'loss.sum_partials',
    code: `struct U { chunks: u32, stride: u32, offset: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> scratch: array<f32, ${WORKGROUP_1D}>;
@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wg.x;
  var sum = 0.0;
  for (var k = lid; k < u.chunks; k += ${WORKGROUP_1D}u) { sum += partials[n * u.chunks + k]; }
  scratch[lid] = sum;
  workgroupBarrier();
  for (var s = ${WORKGROUP_1D / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { scratch[lid] += scratch[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[n * u.stride + u.offset] = scratch[0]; }
}`,
  };
}

/** objective[n][0] = Σ_t weight_t · objective[n][1 + t] (weights in a small storage buffer). */
export function combineObjective(): KernelSource {
  return {
    name: 'loss.combine',
    key: 'loss.combine',
    code: `struct U { N: u32, terms: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> objective: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= u.N) { return; }
  let stride = u.terms + 1u;
  var total = 0.0;
  for (var t = 0u; t < u.terms; t++) { total += weights[t] * objective[n * stride + 1u + t]; }
  objective[n * stride] = total;
}`,
  };
}
