// Pieces shared by the WGSL generators.
import { WORKGROUP_1D } from '../engine/gpu.ts';

export { WORKGROUP_1D };

/** Entry point header for 1-D element-wise kernels dispatched with grid1d(): defines `i`. */
export function elementwiseMain(countExpr: string): string {
  return `@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP_1D}u;
  if (i >= ${countExpr}) { return; }`;
}

/** `out = v` or `out += v` depending on the uniform flag `u.accumulate`. */
export function storeMaybeAccumulate(target: string, value: string): string {
  return `if (u.accumulate != 0u) { ${target} = ${target} + ${value}; } else { ${target} = ${value}; }`;
}

/**
 * WGSL `udivf(a, d, inv)` = a / d for a < 2^24, d ≥ 1, inv = 1.0 / f32(d): an f32 reciprocal
 * and one correction step. llvmpipe scalarises vector integer division (one `div` per lane
 * plus WGSL's zero check), which made index arithmetic the cost of memory-bound kernels.
 */
export const UDIV_F32 = `fn udivf(a: u32, d: u32, inv: f32) -> u32 {
  let q = u32(f32(a) * inv);
  let r = i32(a) - i32(q * d);
  return q - select(0u, 1u, r < 0) + select(0u, 1u, r >= i32(d));
}`;

/** Elements per invocation of the strided element-wise kernels. */
export const ELEMENTWISE_ITEMS = 4;

/**
 * Entry point header for element-wise kernels dispatched with grid1d(count, WORKGROUP_1D ·
 * ELEMENTWISE_ITEMS): each invocation takes ELEMENTWISE_ITEMS elements `i` strided by the
 * workgroup size (neighbouring lanes touch neighbouring elements), amortising the
 * per-invocation overhead. The body runs inside a loop; `continue` skips an element.
 */
export function stridedElementwiseMain(countExpr: string, body: string): string {
  return `@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let base = (wg.x + wg.y * nwg.x) * ${WORKGROUP_1D * ELEMENTWISE_ITEMS}u + lid;
  for (var k = 0u; k < ${ELEMENTWISE_ITEMS}u; k++) {
    let i = base + k * ${WORKGROUP_1D}u;
    if (i >= ${countExpr}) { break; }
    ${body}
  }
}`;
}
