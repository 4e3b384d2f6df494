// Element-wise ops from one spec each: the WGSL forward, the WGSL gradient and the float64
// CPU reference come from the same record, so they cannot drift apart. Kernels take
// ELEMENTWISE_ITEMS elements per invocation: dispatch with elementwiseGrid().
import type { KernelSource } from '../engine/kernel.ts';
import { stridedElementwiseMain, storeMaybeAccumulate } from './common.ts';

export interface PointwiseSpec {
  name: string;
  /** WGSL expression of `x` (f32). */
  forward: string;
  /** WGSL expression of `x` and upstream gradient `gy`. */
  gradient: string;
  reference: (x: number) => number;
  referenceGradient: (x: number, gy: number) => number;
}

export const RELU: PointwiseSpec = {
  name: 'relu',
  forward: 'max(x, 0.0)',
  // PyTorch's threshold_backward: the gradient passes where the output is positive.
  gradient: 'select(0.0, gy, x > 0.0)',
  reference: (x) => Math.max(x, 0),
  referenceGradient: (x, gy) => (x > 0 ? gy : 0),
};

export function pointwiseForward(spec: PointwiseSpec): KernelSource {
  return {
    name: `${spec.name}.forward`,
    key: `pointwise.forward.${spec.name}`,
    code: `struct U { count: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
${stridedElementwiseMain('u.count', `let x = input[i];
    output[i] = ${spec.forward};`)}`,
  };
}

export function pointwiseBackward(spec: PointwiseSpec): KernelSource {
  return {
    name: `${spec.name}.backward`,
    key: `pointwise.backward.${spec.name}`,
    code: `struct U { count: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${stridedElementwiseMain('u.count', `let x = input[i];
    let gy = gradOutput[i];
    let g = ${spec.gradient};
    ${storeMaybeAccumulate('gradInput[i]', 'g')}`)}`,
  };
}

/** output = a + b (residual connections). */
export function addForward(): KernelSource {
  return {
    name: 'add.forward',
    key: 'add.forward',
    code: `struct U { count: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;
${stridedElementwiseMain('u.count', 'output[i] = a[i] + b[i];')}`,
  };
}

/** target = source or target += source: passes a gradient through add, flatten and views. */
export function accumulateGradient(): KernelSource {
  return {
    name: 'gradient.accumulate',
    key: 'gradient.accumulate',
    code: `struct U { count: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
${stridedElementwiseMain('u.count', `let g = src[i];
    ${storeMaybeAccumulate('dst[i]', 'g')}`)}`,
  };
}
