// Pooling kernels, NCHW. Gradients are gathers (each input element sums the windows that
// touch it), never scatters with atomics, so results are deterministic.
import type { KernelSource } from '../engine/kernel.ts';
import { UDIV_F32, WORKGROUP_1D, storeMaybeAccumulate, stridedElementwiseMain } from './common.ts';

// count is per sample (planes · plane size); the dispatch is grid1d(count) × N with the sample
// on workgroup_id.z, so every index below fits udivf's 2^24 range.
const POOL_UNIFORMS = `struct U {
  count: u32, H: u32, W: u32, OH: u32,
  OW: u32, KH: u32, KW: u32, SH: u32,
  SW: u32, PH: u32, PW: u32, accumulate: u32,
}
@group(0) @binding(0) var<uniform> u: U;
${UDIV_F32}`;

/** Entry point: `i` is the flat index inside sample n, split into plane · rows · cols. */
function poolMain(rows: string, cols: string): string {
  return `@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP_1D}u;
  if (i >= u.count) { return; }
  let n = gid.z;
  let planeSize = ${rows} * ${cols};
  let invPlane = 1.0 / f32(planeSize);
  let planeInSample = udivf(i, planeSize, invPlane);
  let e = i - planeInSample * planeSize;
  let r = udivf(e, ${cols}, 1.0 / f32(${cols}));
  let col = e - r * ${cols};
  let flat = n * u.count + i;
  let planeIdx = n * udivf(u.count, planeSize, invPlane) + planeInSample;`;
}

/**
 * Max pooling; also writes the flat in-plane index of the winner for the backward pass. Ties
 * keep the first maximum in row-major window order and NaN propagates, as PyTorch's CPU kernel.
 */
export function maxPool2dForward(): KernelSource {
  return {
    name: 'maxpool2d.forward',
    key: 'maxpool2d.forward',
    code: `${POOL_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>;
${poolMain('u.OH', 'u.OW')}
  let ow = col;
  let oh = r;
  let base = planeIdx * u.H * u.W;
  let h0 = i32(oh * u.SH) - i32(u.PH);
  let w0 = i32(ow * u.SW) - i32(u.PW);
  var best = -3.4028234663852886e38;
  var bestIndex = -1;
  var first = true;
  for (var kh = 0; kh < i32(u.KH); kh++) {
    let ih = h0 + kh;
    if (ih < 0 || ih >= i32(u.H)) { continue; }
    for (var kw = 0; kw < i32(u.KW); kw++) {
      let iw = w0 + kw;
      if (iw < 0 || iw >= i32(u.W)) { continue; }
      let idx = ih * i32(u.W) + iw;
      let v = x[base + u32(idx)];
      if (first || v > best || v != v) {
        best = v;
        bestIndex = idx;
        first = false;
        if (v != v) { break; }
      }
    }
    if (best != best) { break; }
  }
  y[flat] = best;
  argmax[flat] = bestIndex;
}`,
  };
}

/**
 * Max-pool gradient as ordered scatters: windows whose indices agree modulo
 * (ceil(KH/SH), ceil(KW/SW)) never overlap, so one dispatch per such class adds each window's
 * gradient at its argmax without races or atomics; the classes run in a fixed order, so the
 * sums are deterministic. A gather (each input scanning the windows that touch it) needs ~8
 * loads per input; this needs ~1 (loads are the cost on llvmpipe). gradInput must hold the
 * values to add to (zeroed first unless accumulating). count = windows of this class per sample.
 */
export function maxPool2dBackward(): KernelSource {
  return {
    name: 'maxpool2d.backward',
    key: 'maxpool2d.backward.scatter',
    code: `struct U {
  count: u32, H: u32, W: u32, OH: u32,
  OW: u32, classH: u32, classW: u32, stepH: u32,
  stepW: u32, rows: u32, cols: u32, pad0: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<i32>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${UDIV_F32}
@compute @workgroup_size(${WORKGROUP_1D})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP_1D}u;
  if (i >= u.count) { return; }
  // (plane, a, b) of window (classH + stepH·a, classW + stepW·b) in a rows × cols class grid.
  let classSize = u.rows * u.cols;
  let invClass = 1.0 / f32(classSize);
  let planeInSample = udivf(i, classSize, invClass);
  let e = i - planeInSample * classSize;
  let a = udivf(e, u.cols, 1.0 / f32(u.cols));
  let b = e - a * u.cols;
  let oh = u.classH + u.stepH * a;
  let ow = u.classW + u.stepW * b;
  if (oh >= u.OH || ow >= u.OW) { return; }
  let plane = gid.z * udivf(u.count, classSize, invClass) + planeInSample;
  let o = (plane * u.OH + oh) * u.OW + ow;
  let at = argmax[o];
  if (at < 0) { return; }
  let t = plane * u.H * u.W + u32(at);
  gradInput[t] = gradInput[t] + gradOutput[o];
}`,
  };
}

/** gradInput = 0 (before the scatter passes of the max-pool gradient). */
export function fillZero(): KernelSource {
  return {
    name: 'fill_zero',
    key: 'fill_zero',
    code: `struct U { count: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${stridedElementwiseMain('u.count', 'out[i] = 0.0;')}`,
  };
}

// Adaptive average pooling: output cell o covers [floor(o·H/OH), ceil((o+1)·H/OH)).
const ADAPTIVE_HELPERS = `fn startOf(o: u32, inSize: u32, outSize: u32, invOut: f32) -> u32 { return udivf(o * inSize, outSize, invOut); }
fn endOf(o: u32, inSize: u32, outSize: u32, invOut: f32) -> u32 { return udivf((o + 1u) * inSize + outSize - 1u, outSize, invOut); }`;

export function adaptiveAvgPool2dForward(): KernelSource {
  return {
    name: 'adaptive_avg_pool2d.forward',
    key: 'adaptive_avg_pool2d.forward',
    code: `${POOL_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ADAPTIVE_HELPERS}
${poolMain('u.OH', 'u.OW')}
  let ow = col;
  let oh = r;
  let invOH = 1.0 / f32(u.OH);
  let invOW = 1.0 / f32(u.OW);
  let h0 = startOf(oh, u.H, u.OH, invOH); let h1 = endOf(oh, u.H, u.OH, invOH);
  let w0 = startOf(ow, u.W, u.OW, invOW); let w1 = endOf(ow, u.W, u.OW, invOW);
  var acc = 0.0;
  for (var ih = h0; ih < h1; ih++) {
    let row = (planeIdx * u.H + ih) * u.W;
    for (var iw = w0; iw < w1; iw++) { acc += x[row + iw]; }
  }
  y[flat] = acc / f32((h1 - h0) * (w1 - w0));
}`,
  };
}

export function adaptiveAvgPool2dBackward(): KernelSource {
  return {
    name: 'adaptive_avg_pool2d.backward',
    key: 'adaptive_avg_pool2d.backward',
    code: `${POOL_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradInput: array<f32>;
${ADAPTIVE_HELPERS}
${poolMain('u.H', 'u.W')}
  let ih = r;
  let iw = col;
  let invOH = 1.0 / f32(u.OH);
  let invOW = 1.0 / f32(u.OW);
  // Output cells containing ih: floor(ih·OH/H) <= oh <= ceil((ih+1)·OH/H) - 1.
  let invH = 1.0 / f32(u.H);
  let invW = 1.0 / f32(u.W);
  let ohLo = udivf(ih * u.OH, u.H, invH);
  let ohHi = min(udivf((ih + 1u) * u.OH + u.H - 1u, u.H, invH), u.OH);
  let owLo = udivf(iw * u.OW, u.W, invW);
  let owHi = min(udivf((iw + 1u) * u.OW + u.W - 1u, u.W, invW), u.OW);
  let outPlane = planeIdx * u.OH * u.OW;
  var acc = 0.0;
  for (var oh = ohLo; oh < ohHi; oh++) {
    let hn = endOf(oh, u.H, u.OH, invOH) - startOf(oh, u.H, u.OH, invOH);
    for (var ow = owLo; ow < owHi; ow++) {
      let wn = endOf(ow, u.W, u.OW, invOW) - startOf(ow, u.W, u.OW, invOW);
      acc += gradOutput[outPlane + oh * u.OW + ow] / f32(hn * wn);
    }
  }
  ${storeMaybeAccumulate('gradInput[flat]', 'acc')}
}`,
  };
}
