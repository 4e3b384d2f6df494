// Fully connected layer y[n][o] = Σ_i x[n][i]·W[o][i] + b[o]. A weight larger than one
// storage binding (AlexNet's classifier.1 is 151 MB, lavapipe binds 128 MiB) arrives as
// row chunks; each chunk is one dispatch that writes (forward) or adds (input gradient) its
// slice, so chunking never changes the summation order within an output.
import type { KernelSource } from '../engine/kernel.ts';
import { elementwiseMain, storeMaybeAccumulate } from './common.ts';

const LINEAR_UNIFORMS = `struct U { count: u32, N: u32, I: u32, O: u32, rows: u32, rowOffset: u32, hasBias: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> u: U;`;

/** One output per thread over this chunk's rows; 4 independent partial sums for ILP. */
export function linearForward(): KernelSource {
  return {
    name: 'linear.forward',
    key: 'linear.forward',
    code: `${LINEAR_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${elementwiseMain('u.count')}
  let r = i % u.rows;
  let n = i / u.rows;
  let xb = n * u.I;
  let wb = r * u.I;
  var a = vec4<f32>(0.0);
  var k = 0u;
  for (; k + 4u <= u.I; k += 4u) {
    a += vec4<f32>(x[xb + k], x[xb + k + 1u], x[xb + k + 2u], x[xb + k + 3u]) *
         vec4<f32>(weight[wb + k], weight[wb + k + 1u], weight[wb + k + 2u], weight[wb + k + 3u]);
  }
  var acc = (a.x + a.y) + (a.z + a.w);
  for (; k < u.I; k++) { acc += x[xb + k] * weight[wb + k]; }
  let o = u.rowOffset + r;
  if (u.hasBias != 0u) { acc += bias[r]; }
  y[n * u.O + o] = acc;
}`,
  };
}

export function linearBackwardInput(): KernelSource {
  return {
    name: 'linear.backward_input',
    key: 'linear.backward_input',
    code: `${LINEAR_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${elementwiseMain('u.count')}
  let k = i % u.I;
  let n = i / u.I;
  var acc = 0.0;
  for (var r = 0u; r < u.rows; r++) {
    acc += gradOutput[n * u.O + u.rowOffset + r] * weight[r * u.I + k];
  }
  ${storeMaybeAccumulate('gradInput[i]', 'acc')}
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
