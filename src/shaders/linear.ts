// Fully connected layer y[n][o] = Σ_i x[n][i]·W[o][i] + b[o]. A weight larger than one
// storage binding (AlexNet's classifier.1 is 151 MB, lavapipe binds 128 MiB) arrives as
// row chunks; each chunk is one dispatch that writes (forward) or adds (input gradient) its
// slice, so chunking never changes the summation order within an output.
import type { KernelSource } from '../engine/kernel.ts';
import { WORKGROUP_1D, elementwiseMain, storeMaybeAccumulate } from './common.ts';

const LINEAR_UNIFORMS = `struct U { count: u32, N: u32, I: u32, O: u32, rows: u32, rowOffset: u32, hasBias: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** Rows (forward) / input features (input gradient) per invocation. */
export const LINEAR_BLOCK = 4;
export const LINEAR_FORWARD_WORKGROUP = 32;

/**
 * LINEAR_BLOCK consecutive rows of this chunk per invocation: each x[k] load (every load is a
 * per-lane gather on llvmpipe, uniform or not) feeds LINEAR_BLOCK weights. Each row keeps 4
 * partial sums over k ≡ 0..3 (mod 4), added in a fixed order. Dispatch grid1d(N·ceil(rows/4), LINEAR_FORWARD_WORKGROUP).
 */
export function linearForward(): KernelSource {
  const B = LINEAR_BLOCK;
  const rowsOf = (f: (j: number) => string) => Array.from({ length: B }, (_, j) => f(j)).join('\n    ');
  return {
    name: 'linear.forward',
    key: `linear.forward.rows${B}.wg${LINEAR_FORWARD_WORKGROUP}`,
    code: `${LINEAR_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// Small workgroups: a layer has only ~O/4 invocations and both cores need several workgroups.
@compute @workgroup_size(${LINEAR_FORWARD_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${LINEAR_FORWARD_WORKGROUP}u;
  if (i >= u.count) { return; }
  let blocks = (u.rows + ${B - 1}u) / ${B}u;
  let n = i / blocks;
  let r0 = (i - n * blocks) * ${B}u;
  let xb = n * u.I;
  // Rows past the chunk read row r0 again (in bounds) and are not stored.
  ${Array.from({ length: B }, (_, j) => `let w${j} = select(r0, r0 + ${j}u, r0 + ${j}u < u.rows) * u.I;`).join('\n  ')}
  ${Array.from({ length: B }, (_, j) => `var a${j} = vec4<f32>(0.0);`).join(' ')}
  var k = 0u;
  for (; k + 4u <= u.I; k += 4u) {
    let xv = vec4<f32>(x[xb + k], x[xb + k + 1u], x[xb + k + 2u], x[xb + k + 3u]);
    ${rowsOf((j) => `a${j} += xv * vec4<f32>(weight[w${j} + k], weight[w${j} + k + 1u], weight[w${j} + k + 2u], weight[w${j} + k + 3u]);`)}
  }
  ${Array.from({ length: B }, (_, j) => `var s${j} = (a${j}.x + a${j}.y) + (a${j}.z + a${j}.w);`).join('\n  ')}
  for (; k < u.I; k++) {
    let xv = x[xb + k];
    ${rowsOf((j) => `s${j} += xv * weight[w${j} + k];`)}
  }
  ${Array.from({ length: B }, (_, j) => `if (r0 + ${j}u < u.rows) {
    var v = s${j};
    if (u.hasBias != 0u) { v += bias[r0 + ${j}u]; }
    y[n * u.O + u.rowOffset + r0 + ${j}u] = v;
  }`).join('\n  ')}
}`,
  };
}

/**
 * LINEAR_BLOCK input features per invocation, strided by the workgroup size (neighbouring
 * lanes read neighbouring weights): each gradOutput load feeds LINEAR_BLOCK weights. Rows are
 * summed in order. Dispatch grid1d(N · ceil(I / (256·4)) · 256).
 */
export function linearBackwardInput(): KernelSource {
  const B = LINEAR_BLOCK;
  const WG = WORKGROUP_1D;
  return {
    name: 'linear.backward_input',
    key: `linear.backward_input.cols${B}`,
    code: `${LINEAR_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${elementwiseMain('u.count')}
  // count = N · groups · ${WG}, groups = ceil(I / ${WG * B}).
  let lane = i % ${WG}u;
  let group = i / ${WG}u;
  let groups = (u.I + ${WG * B - 1}u) / ${WG * B}u;
  let n = group / groups;
  let kBase = (group - n * groups) * ${WG * B}u + lane;
  ${Array.from({ length: B }, (_, j) => `let k${j} = min(kBase + ${j * WG}u, u.I - 1u);`).join('\n  ')}
  ${Array.from({ length: B }, (_, j) => `var a${j} = 0.0;`).join(' ')}
  var gi = n * u.O + u.rowOffset;
  var wr = 0u;
  for (var r = 0u; r < u.rows; r++) {
    let g = gradOutput[gi];
    ${Array.from({ length: B }, (_, j) => `a${j} += g * weight[wr + k${j}];`).join('\n    ')}
    gi += 1u;
    wr += u.I;
  }
  ${Array.from({ length: B }, (_, j) => `if (kBase + ${j * WG}u < u.I) {
    let at = n * u.I + kBase + ${j * WG}u;
    ${storeMaybeAccumulate('gradInput[at]', `a${j}`)}
  }`).join('\n  ')}
}`,
  };
}

/** Weight gradient of one chunk (index i over rows × I) or, with I = 1 semantics, the bias. */
export function linearBackwardWeight(): KernelSource {
  return {
    name: 'linear.backward_weight',
    key: 'linear.backward_weight',
    code: `${LINEAR_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(3) var<storage, read_write> gradWeight: array<f32>;
${elementwiseMain('u.count')}
  // hasBias = 1 here means "bias gradient": x is ignored and i indexes rows.
  var acc = 0.0;
  if (u.hasBias != 0u) {
    for (var n = 0u; n < u.N; n++) { acc += gradOutput[n * u.O + u.rowOffset + i]; }
  } else {
    let k = i % u.I;
    let r = i / u.I;
    for (var n = 0u; n < u.N; n++) { acc += gradOutput[n * u.O + u.rowOffset + r] * x[n * u.I + k]; }
  }
  ${storeMaybeAccumulate('gradWeight[i]', 'acc')}
}`,
  };
}
