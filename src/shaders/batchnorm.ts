// Inference-mode batch normalisation over NCHW with running statistics:
//   y = (x − mean[c]) / sqrt(var[c] + eps) · gamma[c] + beta[c]
import type { KernelSource } from '../engine/kernel.ts';
import { UDIV_F32, WORKGROUP_1D, storeMaybeAccumulate } from './common.ts';

const BN_UNIFORMS = `struct U { count: u32, C: u32, HW: u32, accumulate: u32, eps: f32, N: u32, mode: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** Invocations per workgroup and elements per invocation of the per-plane kernels. */
export const BN_WORKGROUP = 64;
export const BN_ITEMS = 4;

/**
 * Per-plane entry: dispatch [ceil(HW / (BN_WORKGROUP·BN_ITEMS)), C, N]. The channel comes from
 * workgroup_id, so each invocation loads its channel's parameters once for BN_ITEMS elements
 * (every load costs a per-lane gather on llvmpipe) and no index needs a division.
 */
function planeMain(params: string, body: string): string {
  const setup = params;
  return `@compute @workgroup_size(${BN_WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let c = wg.y;
  let planeBase = (wg.z * u.C + c) * u.HW;
  let e0 = wg.x * ${BN_WORKGROUP * BN_ITEMS}u + lid;
  ${setup}
  for (var k = 0u; k < ${BN_ITEMS}u; k++) {
    let e = e0 + k * ${BN_WORKGROUP}u;
    if (e >= u.HW) { break; }
    let i = planeBase + e;
    ${body}
  }
}`;
}

/**
 * Flat entry for small planes (a per-plane workgroup would idle most lanes): dispatch
 * [grid1d(C·HW), N]; each element finds its channel with udivf and loads its parameters.
 */
function flatMain(params: string, body: string): string {
  return `${UDIV_F32}
@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * ${WORKGROUP_1D}u;
  if (e >= u.C * u.HW) { return; }
  let c = udivf(e, u.HW, 1.0 / f32(u.HW));
  let i = gid.z * u.C * u.HW + e;
  ${params}
  ${body}
}`;
}

/** Planes smaller than this use the flat kernels. */
export const BN_FLAT_BELOW = 256;

export function batchNorm2dForward(flat = false): KernelSource {
  return {
    name: 'batchnorm2d.forward',
    key: `batchnorm2d.forward.${flat ? 'flat' : 'plane'}`,
    code: `${BN_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> variance: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
${(flat ? flatMain : planeMain)(`let m = mean[c];
  let s = gamma[c] / sqrt(variance[c] + u.eps);
  let b = beta[c];`, 'y[i] = (x[i] - m) * s + b;')}`,
  };
}

export function batchNorm2dBackwardInput(flat = false): KernelSource {
  return {
    name: 'batchnorm2d.backward_input',
    key: `batchnorm2d.backward_input.${flat ? 'flat' : 'plane'}`,
    code: `${BN_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradInput: array<f32>;
${(flat ? flatMain : planeMain)('let s = gamma[c] / sqrt(variance[c] + u.eps);', `let g = gradOutput[i] * s;
    ${storeMaybeAccumulate('gradInput[i]', 'g')}`)}`,
  };
}

/**
 * Per-channel sums over batch and pixels, one workgroup per channel, fixed reduction order:
 * mode 0: Σ gy (bias / beta gradient); mode 1: Σ gy·(x − mean)/sqrt(var + eps) (gamma gradient).
 */
export function channelGradientSum(): KernelSource {
  return {
    name: 'batchnorm2d.channel_sum',
    key: 'batchnorm2d.channel_sum',
    code: `${BN_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
var<workgroup> partial: array<f32, ${WORKGROUP_1D}>;
@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wg.x;
  let perChannel = u.N * u.HW;
  var acc = 0.0;
  var invStd = 0.0;
  var m = 0.0;
  if (u.mode == 1u) { invStd = 1.0 / sqrt(variance[c] + u.eps); m = mean[c]; }
  for (var k = lid; k < perChannel; k += ${WORKGROUP_1D}u) {
    let idx = ((k / u.HW) * u.C + c) * u.HW + k % u.HW;
    var v = gradOutput[idx];
    if (u.mode == 1u) { v = v * (x[idx] - m) * invStd; }
    acc += v;
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${WORKGROUP_1D / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { ${storeMaybeAccumulate('out[c]', 'partial[0]')} }
}`,
  };
}
