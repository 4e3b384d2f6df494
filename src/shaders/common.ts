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
