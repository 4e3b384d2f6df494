// SGD with momentum on the GPU. The iteration counter lives in a GPU buffer and the
// learning rate comes from a piecewise-constant schedule table, so a replayed plan needs no
// CPU writes per iteration.
import type { KernelSource } from '../engine/kernel.ts';
import { elementwiseMain } from './common.ts';

/**
 * Momentum flavours:
 *  0 'pytorch'   v = μ·v + g;            x −= lr·v       (torch.optim.SGD)
 *  1 'goggle'    v = μ·v − lr·g; x += v; v reset to 0 whenever lr changes (deep-goggle, 2015)
 *  2 'adagrad'   G = ρ·G + g²; v = μ·v − g/(1/lr + sqrt(G)); x += v; v reset when lr changes
 *                (nnpreimage, 2016; G is not reset)
 */
export function sgdMomentumUpdate(): KernelSource {
  return {
    name: 'optimizer.sgd_momentum',
    key: 'optimizer.sgd_momentum',
    code: `struct U { count: u32, style: u32, segments: u32, pad0: u32, momentum: f32, rho: f32, pad1: f32, pad2: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(4) var<storage, read_write> sqAccum: array<f32>;
@group(0) @binding(5) var<storage, read> step: array<u32>;
// schedule[k] = (first iteration of segment k+1, lr of segment k); the last segment extends.
@group(0) @binding(6) var<storage, read> schedule: array<vec2<f32>>;
fn lrAt(t: u32) -> f32 {
  for (var k = 0u; k + 1u < u.segments; k++) {
    if (f32(t) < schedule[k].x) { return schedule[k].y; }
  }
  return schedule[u.segments - 1u].y;
}
${elementwiseMain('u.count')}
  let t = step[0];
  let lr = lrAt(t);
  let g = grad[i];
  var v = velocity[i];
  if (u.style == 0u) {
    v = u.momentum * v + g;
    x[i] = x[i] - lr * v;
  } else if (u.style == 1u) {
    if (t > 0u && lrAt(t - 1u) != lr) { v = 0.0; }
    v = u.momentum * v - lr * g;
    x[i] = x[i] + v;
  } else {
    if (t > 0u && lrAt(t - 1u) != lr) { v = 0.0; }
    let G = u.rho * sqAccum[i] + g * g;
    sqAccum[i] = G;
    v = u.momentum * v - g / (1.0 / lr + sqrt(G));
    x[i] = x[i] + v;
  }
  velocity[i] = v;
}`,
  };
}

/** step[0] += 1, after every kernel of the iteration has read it. */
export function advanceStep(): KernelSource {
  return {
    name: 'optimizer.advance_step',
    key: 'optimizer.advance_step',
    code: `@group(0) @binding(0) var<storage, read_write> step: array<u32>;
@compute @workgroup_size(1)
fn main() { step[0] = step[0] + 1u; }`,
  };
}
