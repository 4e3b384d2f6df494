// Pooling kernels, NCHW. Gradients are gathers (each input element sums the windows that
// touch it), never scatters with atomics, so results are deterministic.
import type { KernelSource } from '../engine/kernel.ts';
import { elementwiseMain, storeMaybeAccumulate } from './common.ts';

const POOL_UNIFORMS = `struct U {
  count: u32, H: u32, W: u32, OH: u32,
  OW: u32, KH: u32, KW: u32, SH: u32,
  SW: u32, PH: u32, PW: u32, accumulate: u32,
}
@group(0) @binding(0) var<uniform> u: U;`;

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
${elementwiseMain('u.count')}
  let ow = i % u.OW;
  let oh = (i / u.OW) % u.OH;
  let plane = i / (u.OW * u.OH);
  let base = plane * u.H * u.W;
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
  y[i] = best;
  argmax[i] = bestIndex;
}`,
  };
}

export function maxPool2dBackward(): KernelSource {
  return {
    name: 'maxpool2d.backward',
    key: 'maxpool2d.backward',
    code: `${POOL_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<i32>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${elementwiseMain('u.count')}
  let iw = i % u.W;
  let ih = (i / u.W) % u.H;
  let plane = i / (u.W * u.H);
  let me = i32(ih * u.W + iw);
  // Windows oh with oh*SH - PH <= ih <= oh*SH - PH + KH - 1.
  let hp = i32(ih + u.PH);
  let wp = i32(iw + u.PW);
  let ohLo = max(0, (hp - i32(u.KH) + i32(u.SH)) / i32(u.SH));
  let ohHi = min(i32(u.OH) - 1, hp / i32(u.SH));
  let owLo = max(0, (wp - i32(u.KW) + i32(u.SW)) / i32(u.SW));
  let owHi = min(i32(u.OW) - 1, wp / i32(u.SW));
  var acc = 0.0;
  for (var oh = ohLo; oh <= ohHi; oh++) {
    for (var ow = owLo; ow <= owHi; ow++) {
      let o = (plane * u.OH + u32(oh)) * u.OW + u32(ow);
      if (argmax[o] == me) { acc += gradOutput[o]; }
    }
  }
  ${storeMaybeAccumulate('gradInput[i]', 'acc')}
}`,
  };
}

// Adaptive average pooling: output cell o covers [floor(o·H/OH), ceil((o+1)·H/OH)).
const ADAPTIVE_HELPERS = `fn startOf(o: u32, inSize: u32, outSize: u32) -> u32 { return (o * inSize) / outSize; }
fn endOf(o: u32, inSize: u32, outSize: u32) -> u32 { return ((o + 1u) * inSize + outSize - 1u) / outSize; }`;

export function adaptiveAvgPool2dForward(): KernelSource {
  return {
    name: 'adaptive_avg_pool2d.forward',
    key: 'adaptive_avg_pool2d.forward',
    code: `${POOL_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ADAPTIVE_HELPERS}
${elementwiseMain('u.count')}
  let ow = i % u.OW;
  let oh = (i / u.OW) % u.OH;
  let plane = i / (u.OW * u.OH);
  let h0 = startOf(oh, u.H, u.OH); let h1 = endOf(oh, u.H, u.OH);
  let w0 = startOf(ow, u.W, u.OW); let w1 = endOf(ow, u.W, u.OW);
  var acc = 0.0;
  for (var ih = h0; ih < h1; ih++) {
    let row = (plane * u.H + ih) * u.W;
    for (var iw = w0; iw < w1; iw++) { acc += x[row + iw]; }
  }
  y[i] = acc / f32((h1 - h0) * (w1 - w0));
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
${elementwiseMain('u.count')}
  let iw = i % u.W;
  let ih = (i / u.W) % u.H;
  let plane = i / (u.W * u.H);
  // Output cells containing ih: floor(ih·OH/H) <= oh <= ceil((ih+1)·OH/H) - 1.
  let ohLo = (ih * u.OH) / u.H;
  let ohHi = ((ih + 1u) * u.OH + u.H - 1u) / u.H;
  let owLo = (iw * u.OW) / u.W;
  let owHi = ((iw + 1u) * u.OW + u.W - 1u) / u.W;
  var acc = 0.0;
  for (var oh = ohLo; oh < min(ohHi, u.OH); oh++) {
    let hn = endOf(oh, u.H, u.OH) - startOf(oh, u.H, u.OH);
    for (var ow = owLo; ow < min(owHi, u.OW); ow++) {
      let wn = endOf(ow, u.W, u.OW) - startOf(ow, u.W, u.OW);
      acc += gradOutput[(plane * u.OH + oh) * u.OW + ow] / f32(hn * wn);
    }
  }
  ${storeMaybeAccumulate('gradInput[i]', 'acc')}
}`,
  };
}
