// conv2d kernels, NCHW, f32: the naive one-output-per-thread versions (the GPU oracle), the
// weight-gradient kernel and the weight re-layout for the register-blocked kernels, which live
// in conv2d-tiled.ts ('row' generalises the first 8-channel × 4-pixel blocked tile). On
// llvmpipe the lever is more arithmetic per load; workgroup memory only adds barriers there
// (FACTS.md). Shapes travel in uniforms so one pipeline serves every layer.
import type { KernelSource } from '../engine/kernel.ts';
import { elementwiseMain, storeMaybeAccumulate } from './common.ts';

/** Output channels (forward) / input channels (input gradient) per thread. */
export const CONV_CHANNEL_BLOCK = 8;
/** Pixels per thread of the 'blocked' variant (the 'row' kernels with the first 8 × 4 tile). */
export const CONV_PIXEL_BLOCK = 4;

const CONV_UNIFORMS = `struct U {
  N: u32, C: u32, H: u32, W: u32,
  OC: u32, OH: u32, OW: u32, KH: u32,
  KW: u32, SH: u32, SW: u32, PH: u32,
  PW: u32, count: u32, blocksW: u32, blocksC: u32,
  hasBias: u32, accumulate: u32, Cpad: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> u: U;`;

export function conv2dForwardNaive(): KernelSource {
  return {
    name: 'conv2d.forward.naive',
    key: 'conv2d.forward.naive',
    code: `${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${elementwiseMain('u.count')}
  let ow = i % u.OW;
  let oh = (i / u.OW) % u.OH;
  let oc = (i / (u.OW * u.OH)) % u.OC;
  let n = i / (u.OW * u.OH * u.OC);
  var acc = 0.0;
  for (var ic = 0u; ic < u.C; ic++) {
    for (var kh = 0u; kh < u.KH; kh++) {
      let ih = i32(oh * u.SH + kh) - i32(u.PH);
      if (ih < 0 || ih >= i32(u.H)) { continue; }
      for (var kw = 0u; kw < u.KW; kw++) {
        let iw = i32(ow * u.SW + kw) - i32(u.PW);
        if (iw < 0 || iw >= i32(u.W)) { continue; }
        acc += x[((n * u.C + ic) * u.H + u32(ih)) * u.W + u32(iw)] * weight[((oc * u.C + ic) * u.KH + kh) * u.KW + kw];
      }
    }
  }
  if (u.hasBias != 0u) { acc += bias[oc]; }
  y[i] = acc;
}`,
  };
}

export function conv2dBackwardInputNaive(): KernelSource {
  return {
    name: 'conv2d.backward_input.naive',
    key: 'conv2d.backward_input.naive',
    code: `${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${elementwiseMain('u.count')}
  let iw = i % u.W;
  let ih = (i / u.W) % u.H;
  let ic = (i / (u.W * u.H)) % u.C;
  let n = i / (u.W * u.H * u.C);
  var acc = 0.0;
  for (var oc = 0u; oc < u.OC; oc++) {
    for (var kh = 0u; kh < u.KH; kh++) {
      let t = i32(ih + u.PH) - i32(kh);
      if (t < 0 || t % i32(u.SH) != 0) { continue; }
      let oh = u32(t) / u.SH;
      if (oh >= u.OH) { continue; }
      for (var kw = 0u; kw < u.KW; kw++) {
        let s = i32(iw + u.PW) - i32(kw);
        if (s < 0 || s % i32(u.SW) != 0) { continue; }
        let ow = u32(s) / u.SW;
        if (ow >= u.OW) { continue; }
        acc += gradOutput[((n * u.OC + oc) * u.OH + oh) * u.OW + ow] * weight[((oc * u.C + ic) * u.KH + kh) * u.KW + kw];
      }
    }
  }
  ${storeMaybeAccumulate('gradInput[i]', 'acc')}
}`,
  };
}

/** Weight gradient, one weight per thread, summing over batch and output pixels in a fixed order. */
export function conv2dBackwardWeight(): KernelSource {
  return {
    name: 'conv2d.backward_weight',
    key: 'conv2d.backward_weight.naive',
    code: `${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(3) var<storage, read_write> gradWeight: array<f32>;
${elementwiseMain('u.count')}
  let kw = i % u.KW;
  let kh = (i / u.KW) % u.KH;
  let ic = (i / (u.KW * u.KH)) % u.C;
  let oc = i / (u.KW * u.KH * u.C);
  var acc = 0.0;
  for (var n = 0u; n < u.N; n++) {
    for (var oh = 0u; oh < u.OH; oh++) {
      let ih = i32(oh * u.SH + kh) - i32(u.PH);
      if (ih < 0 || ih >= i32(u.H)) { continue; }
      for (var ow = 0u; ow < u.OW; ow++) {
        let iw = i32(ow * u.SW + kw) - i32(u.PW);
        if (iw < 0 || iw >= i32(u.W)) { continue; }
        acc += gradOutput[((n * u.OC + oc) * u.OH + oh) * u.OW + ow] * x[((n * u.C + ic) * u.H + u32(ih)) * u.W + u32(iw)];
      }
    }
  }
  ${storeMaybeAccumulate('gradWeight[i]', 'acc')}
}`,
  };
}

/**
 * Re-lays out a weight [OC][C][KH][KW] for the blocked kernels.
 * mode 0 (forward): [C][KH][KW][OCpad]; mode 1 (input gradient): [KH][KW][OC][Cpad].
 */
export function conv2dWeightLayout(): KernelSource {
  return {
    name: 'conv2d.weight_layout',
    key: 'conv2d.weight_layout',
    code: `struct U { OC: u32, C: u32, KH: u32, KW: u32, padded: u32, count: u32, mode: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> weightT: array<f32>;
${elementwiseMain('u.count')}
  // i indexes the destination.
  var oc: u32; var ic: u32; var kh: u32; var kw: u32;
  if (u.mode == 0u) {
    oc = i % u.padded;
    kw = (i / u.padded) % u.KW;
    kh = (i / (u.padded * u.KW)) % u.KH;
    ic = i / (u.padded * u.KW * u.KH);
    if (oc >= u.OC) { weightT[i] = 0.0; return; }
  } else {
    ic = i % u.padded;
    oc = (i / u.padded) % u.OC;
    kw = (i / (u.padded * u.OC)) % u.KW;
    kh = i / (u.padded * u.OC * u.KW);
    if (ic >= u.C) { weightT[i] = 0.0; return; }
  }
  weightT[i] = weight[((oc * u.C + ic) * u.KH + kh) * u.KW + kw];
}`,
  };
}
