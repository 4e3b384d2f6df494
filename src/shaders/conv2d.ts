// conv2d kernels, NCHW, f32. Each has a naive one-output-per-thread version (the GPU oracle)
// and a register-blocked version: on llvmpipe the lever is more arithmetic per load (each
// thread keeps an 8-channel × 4-pixel tile of accumulators); workgroup memory only adds
// barriers there (FACTS.md). Shapes travel in uniforms so one pipeline serves every layer.
import type { KernelSource } from '../engine/kernel.ts';
import { elementwiseMain, storeMaybeAccumulate } from './common.ts';

/** Output channels (forward) / input channels (input gradient) per thread. */
export const CONV_CHANNEL_BLOCK = 8;
/** Consecutive output pixels (forward) / same-phase input pixels (input gradient) per thread. */
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

/**
 * Forward, register-blocked: a thread computes 8 output channels × 4 consecutive output
 * pixels of one row. Weights are pre-laid out as [C][KH][KW][OCpad] (OCpad = OC rounded up
 * to 8, zero-filled) so a thread's 8 weights are two vec4 loads.
 */
export function conv2dForwardBlocked(): KernelSource {
  return {
    name: 'conv2d.forward.blocked',
    key: 'conv2d.forward.blocked.8x4',
    code: `${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${elementwiseMain('u.count')}
  let bw = i % u.blocksW;
  let oh = (i / u.blocksW) % u.OH;
  let bc = (i / (u.blocksW * u.OH)) % u.blocksC;
  let n = i / (u.blocksW * u.OH * u.blocksC);
  let ow0 = bw * 4u;
  var acc: array<vec4<f32>, 8>;
  for (var j = 0u; j < 8u; j++) { acc[j] = vec4<f32>(0.0); }
  // Input column of each of the 4 pixels at kw = 0.
  let iwBase = vec4<i32>(vec4<u32>(ow0, ow0 + 1u, ow0 + 2u, ow0 + 3u) * u.SW) - vec4<i32>(i32(u.PW));
  let ocVec4PerTap = u.Cpad / 4u;
  for (var ic = 0u; ic < u.C; ic++) {
    for (var kh = 0u; kh < u.KH; kh++) {
      let ih = i32(oh * u.SH + kh) - i32(u.PH);
      if (ih < 0 || ih >= i32(u.H)) { continue; }
      let row = ((n * u.C + ic) * u.H + u32(ih)) * u.W;
      var wi = ((ic * u.KH + kh) * u.KW) * ocVec4PerTap + bc * 2u;
      for (var kw = 0u; kw < u.KW; kw++) {
        let iw = iwBase + vec4<i32>(i32(kw));
        let inside = (iw >= vec4<i32>(0)) & (iw < vec4<i32>(i32(u.W)));
        let xv = vec4<f32>(
          select(0.0, x[row + u32(iw.x)], inside.x),
          select(0.0, x[row + u32(iw.y)], inside.y),
          select(0.0, x[row + u32(iw.z)], inside.z),
          select(0.0, x[row + u32(iw.w)], inside.w));
        let w0 = weightT[wi];
        let w1 = weightT[wi + 1u];
        acc[0] += w0.x * xv; acc[1] += w0.y * xv; acc[2] += w0.z * xv; acc[3] += w0.w * xv;
        acc[4] += w1.x * xv; acc[5] += w1.y * xv; acc[6] += w1.z * xv; acc[7] += w1.w * xv;
        wi += ocVec4PerTap;
      }
    }
  }
  for (var j = 0u; j < 8u; j++) {
    let oc = bc * 8u + j;
    if (oc >= u.OC) { break; }
    var b = 0.0;
    if (u.hasBias != 0u) { b = bias[oc]; }
    let base = ((n * u.OC + oc) * u.OH + oh) * u.OW;
    let a = acc[j];
    if (ow0 < u.OW) { y[base + ow0] = a.x + b; }
    if (ow0 + 1u < u.OW) { y[base + ow0 + 1u] = a.y + b; }
    if (ow0 + 2u < u.OW) { y[base + ow0 + 2u] = a.z + b; }
    if (ow0 + 3u < u.OW) { y[base + ow0 + 3u] = a.w + b; }
  }
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

/**
 * Input gradient, register-blocked. With stride S, input column iw receives contributions
 * only from taps kw ≡ (iw + PW) mod S, so a thread takes 4 input columns of the same phase
 * (iw = r + S·(4b + t)); for them every valid tap maps to 4 consecutive output columns. A
 * thread computes 8 input channels × those 4 pixels; weights are laid out [KH][KW][OC][Cpad].
 */
export function conv2dBackwardInputBlocked(): KernelSource {
  return {
    name: 'conv2d.backward_input.blocked',
    key: 'conv2d.backward_input.blocked.8x4',
    code: `${CONV_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${elementwiseMain('u.count')}
  // blocksW counts (phase, block) pairs: blocksW = SW * ceil(ceil(W / SW) / 4).
  let perPhase = u.blocksW / u.SW;
  let bwAll = i % u.blocksW;
  let r = bwAll / perPhase;
  let b = bwAll % perPhase;
  let ih = (i / u.blocksW) % u.H;
  let bc = (i / (u.blocksW * u.H)) % u.blocksC;
  let n = i / (u.blocksW * u.H * u.blocksC);
  var acc: array<vec4<f32>, 8>;
  for (var j = 0u; j < 8u; j++) { acc[j] = vec4<f32>(0.0); }
  let cVec4PerTap = u.Cpad / 4u;
  let jw0 = i32(b * 4u);
  for (var kh = (ih + u.PH) % u.SH; kh < u.KH; kh += u.SH) {
    let t = i32(ih + u.PH) - i32(kh);
    if (t < 0) { break; }
    let oh = u32(t) / u.SH;
    if (oh >= u.OH) { continue; }
    for (var kw = (r + u.PW) % u.SW; kw < u.KW; kw += u.SW) {
      // ow of the thread's first pixel; exact division (the numerator is a multiple of SW).
      let q = (i32(r + u.PW) - i32(kw)) / i32(u.SW);
      let ow = vec4<i32>(jw0 + q) + vec4<i32>(0, 1, 2, 3);
      let inside = (ow >= vec4<i32>(0)) & (ow < vec4<i32>(i32(u.OW)));
      if (!any(inside)) { continue; }
      var gi = (n * u.OC * u.OH + oh) * u.OW;
      var wi = ((kh * u.KW + kw) * u.OC) * cVec4PerTap + bc * 2u;
      for (var oc = 0u; oc < u.OC; oc++) {
        let gv = vec4<f32>(
          select(0.0, gradOutput[gi + u32(ow.x)], inside.x),
          select(0.0, gradOutput[gi + u32(ow.y)], inside.y),
          select(0.0, gradOutput[gi + u32(ow.z)], inside.z),
          select(0.0, gradOutput[gi + u32(ow.w)], inside.w));
        let w0 = weightT[wi];
        let w1 = weightT[wi + 1u];
        acc[0] += w0.x * gv; acc[1] += w0.y * gv; acc[2] += w0.z * gv; acc[3] += w0.w * gv;
        acc[4] += w1.x * gv; acc[5] += w1.y * gv; acc[6] += w1.z * gv; acc[7] += w1.w * gv;
        gi += u.OH * u.OW;
        wi += cVec4PerTap;
      }
    }
  }
  for (var j = 0u; j < 8u; j++) {
    let ic = bc * 8u + j;
    if (ic >= u.C) { break; }
    let base = ((n * u.C + ic) * u.H + ih) * u.W;
    let a = acc[j];
    for (var p = 0u; p < 4u; p++) {
      let iw = r + u.SW * (b * 4u + p);
      if (iw >= u.W) { break; }
      ${storeMaybeAccumulate('gradInput[base + iw]', 'a[p]')}
    }
  }
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
