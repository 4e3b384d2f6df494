// conv2d kernels shaped for llvmpipe's SIMD execution (FACTS.md, "How fast lavapipe is").
// llvmpipe runs a workgroup as 8-lane SIMD over consecutive invocations; a storage load
// whose address is the same for every lane (it depends only on uniforms, loop counters and
// workgroup_id) is one scalar load and a broadcast, every other load is a per-lane gather.
// So the channel block (weights) rides on workgroup_id.y and is uniform, neighbouring lanes
// take neighbouring output pixels (their gathers hit the same cache lines), and each lane
// keeps a channels × pixels tile of accumulators: `cb` weights (cb/4 vec4 loads, broadcast)
// and `pb` gathered pixels feed cb·pb FMAs. The tile loops are unrolled in the generated text.
import type { KernelSource } from '../engine/kernel.ts';
import { elementwiseMain } from './common.ts';

/** Invocations per workgroup of the tiled conv kernels. */
export const CONV_TILED_WORKGROUP = 64;

export interface ConvTile {
  /** Channels per workgroup (output channels forward, input channels for the input gradient); a multiple of 4. */
  cb: number;
  /** Pixels per invocation, strided by the workgroup size. */
  pb: number;
}

const TILED_UNIFORMS = `struct U {
  C: u32, H: u32, W: u32, OC: u32,
  OH: u32, OW: u32, KH: u32, KW: u32,
  SH: u32, SW: u32, PH: u32, PW: u32,
  pixels: u32, gridW: u32, vecPerTap: u32, hasBias: u32,
  accumulate: u32, phases: u32, count: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> u: U;`;

const range = (n: number) => Array.from({ length: n }, (_, k) => k);

function checkTile(t: ConvTile): void {
  if (t.cb % 4 !== 0 || t.cb < 4 || t.pb < 1) throw new Error(`conv2d tiled: tile ${t.cb}×${t.pb} needs a channel block that is a positive multiple of 4 and at least one pixel`);
}

/** FMAs of one tap: weights w0..w{cb/4-1} (vec4) times pixel values v0..v{pb-1}. */
function tileFma(t: ConvTile, wExpr: (j: number) => string): string {
  const nv = t.cb / 4;
  const lines = range(nv).map((j) => `let w${j} = ${wExpr(j)};`);
  for (const k of range(t.pb)) for (const j of range(nv)) lines.push(`a${k}_${j} += w${j} * v${k};`);
  return lines.join('\n        ');
}

/**
 * Forward. Dispatch [ceil(OH·OW / (64·pb)), ceil(OC / cb), N]. Weight layout [C][KH][KW][OCpad]
 * with OCpad = OC rounded up to cb (vecPerTap = OCpad / 4).
 */
export function conv2dForwardTiled(t: ConvTile): KernelSource {
  checkTile(t);
  const WG = CONV_TILED_WORKGROUP;
  const nv = t.cb / 4;
  const px = range(t.pb);
  return {
    name: `conv2d.forward.tiled.${t.cb}x${t.pb}`,
    key: `conv2d.forward.tiled.${t.cb}x${t.pb}.wg${WG}`,
    code: `${TILED_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let bc = wg.y;
  let n = wg.z;
  let pBase = wg.x * ${WG * t.pb}u + lid;
  // Out-of-range pixels get an input origin far outside, so every tap reads as padding.
  ${px.map((k) => `let p${k} = pBase + ${k * WG}u;
  let oh${k} = p${k} / u.OW;
  var ih${k} = i32(oh${k} * u.SH) - i32(u.PH);
  let iw${k} = i32((p${k} - oh${k} * u.OW) * u.SW) - i32(u.PW);
  if (p${k} >= u.pixels) { ih${k} = -0x40000000; }`).join('\n  ')}
  ${px.map((k) => range(nv).map((j) => `var a${k}_${j} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  let H = i32(u.H);
  let W = i32(u.W);
  let plane = i32(u.H * u.W);
  var xc = i32(n * u.C) * plane;
  var wi = bc * ${nv}u;
  for (var ic = 0u; ic < u.C; ic++) {
    for (var kh = 0; kh < i32(u.KH); kh++) {
      ${px.map((k) => `let r${k} = ih${k} + kh;
      let rowOk${k} = r${k} >= 0 && r${k} < H;
      let row${k} = xc + r${k} * W + iw${k};`).join('\n      ')}
      for (var kw = 0; kw < i32(u.KW); kw++) {
        ${px.map((k) => `let c${k} = iw${k} + kw;
        let v${k} = select(0.0, x[u32(row${k} + kw)], rowOk${k} && c${k} >= 0 && c${k} < W);`).join('\n        ')}
        ${tileFma(t, (j) => `weightT[wi + ${j}u]`)}
        wi += u.vecPerTap;
      }
    }
    xc += plane;
  }
  ${range(nv).map((j) => range(4).map((c) => {
    const o = j * 4 + c;
    return `{
    let oc = bc * ${t.cb}u + ${o}u;
    if (oc < u.OC) {
      var b = 0.0;
      if (u.hasBias != 0u) { b = bias[oc]; }
      let base = (n * u.OC + oc) * u.pixels;
      ${px.map((k) => `if (p${k} < u.pixels) { y[base + p${k}] = a${k}_${j}.${'xyzw'[c]} + b; }`).join('\n      ')}
    }
  }`;
  }).join('\n  ')).join('\n  ')}
}`,
  };
}

/**
 * Input gradient. With stride S an input pixel (ih, iw) only receives taps kh ≡ (ih + PH) mod S,
 * so each workgroup takes one phase (rh, rw) — uniform tap loops — over the sub-grid
 * ih = rh + SH·a, iw = rw + SW·b (gridW = ceil(W / SW) columns, pixels = ceil(H / SH)·gridW).
 * Dispatch [ceil(pixels / (64·pb)), ceil(C / cb), N·SH·SW]. Weight layout [KH][KW][OC][Cpad].
 */
export function conv2dBackwardInputTiled(t: ConvTile): KernelSource {
  checkTile(t);
  const WG = CONV_TILED_WORKGROUP;
  const nv = t.cb / 4;
  const px = range(t.pb);
  return {
    name: `conv2d.backward_input.tiled.${t.cb}x${t.pb}`,
    key: `conv2d.backward_input.tiled.${t.cb}x${t.pb}.wg${WG}`,
    code: `${TILED_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let bc = wg.y;
  let n = wg.z / u.phases;
  let phase = wg.z - n * u.phases;
  let rh = phase / u.SW;
  let rw = phase - rh * u.SW;
  let qBase = wg.x * ${WG * t.pb}u + lid;
  ${px.map((k) => `let q${k} = qBase + ${k * WG}u;
  let ga${k} = q${k} / u.gridW;
  let ih${k} = rh + u.SH * ga${k};
  let iw${k} = rw + u.SW * (q${k} - ga${k} * u.gridW);
  let inside${k} = q${k} < u.pixels && ih${k} < u.H && iw${k} < u.W;
  var ga${k}i = i32(ga${k});
  if (!inside${k}) { ga${k}i = -0x40000000; }
  let gb${k}i = i32(q${k} - ga${k} * u.gridW);`).join('\n  ')}
  ${px.map((k) => range(nv).map((j) => `var a${k}_${j} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  let OH = i32(u.OH);
  let OW = i32(u.OW);
  let gplane = u.OH * u.OW;
  let gn = i32(n * u.OC * gplane);
  for (var kh = (rh + u.PH) % u.SH; kh < u.KH; kh += u.SH) {
    // Exact: rh + PH − kh is a multiple of SH.
    let dh = (i32(rh + u.PH) - i32(kh)) / i32(u.SH);
    ${px.map((k) => `let oh${k} = ga${k}i + dh;
    let rowOk${k} = oh${k} >= 0 && oh${k} < OH;`).join('\n    ')}
    for (var kw = (rw + u.PW) % u.SW; kw < u.KW; kw += u.SW) {
      let dw = (i32(rw + u.PW) - i32(kw)) / i32(u.SW);
      ${px.map((k) => `let ow${k} = gb${k}i + dw;
      let ok${k} = rowOk${k} && ow${k} >= 0 && ow${k} < OW;
      var g${k} = u32(gn + oh${k} * OW + ow${k});`).join('\n      ')}
      if (!(${px.map((k) => `ok${k}`).join(' || ')})) { continue; }
      var wi = (kh * u.KW + kw) * u.OC * u.vecPerTap + bc * ${nv}u;
      for (var oc = 0u; oc < u.OC; oc++) {
        ${px.map((k) => `let v${k} = select(0.0, gradOutput[g${k}], ok${k});`).join('\n        ')}
        ${tileFma(t, (j) => `weightT[wi + ${j}u]`)}
        ${px.map((k) => `g${k} += gplane;`).join(' ')}
        wi += u.vecPerTap;
      }
    }
  }
  ${range(nv).map((j) => range(4).map((c) => {
    const o = j * 4 + c;
    return `{
    let ic = bc * ${t.cb}u + ${o}u;
    if (ic < u.C) {
      let base = (n * u.C + ic) * u.H * u.W;
      ${px.map((k) => `if (inside${k}) {
        let at = base + ih${k} * u.W + iw${k};
        let v = a${k}_${j}.${'xyzw'[c]};
        if (u.accumulate != 0u) { gradInput[at] = gradInput[at] + v; } else { gradInput[at] = v; }
      }`).join('\n      ')}
    }
  }`;
  }).join('\n  ')).join('\n  ')}
}`,
  };
}

/**
 * Forward of a 1×1 convolution without padding, a GEMM over flattened pixels (also the input
 * gradient of a stride-1 one, with the roles of C and OC swapped and accumulate): an invocation
 * takes 8 output channels × `pb` consecutive output pixels of the flattened OH·OW plane (no
 * row tails wasted, no tap loops or bounds checks). Uses the [C][OCpad8] layout of the blocked
 * kernel. Dispatch grid1d(N · ceil(OC / 8) · ceil(OH·OW / pb)).
 */
export function conv2dForward1x1(pb: number): KernelSource {
  const px = range(pb);
  return {
    name: `conv2d.forward.1x1.8x${pb}`,
    key: `conv2d.forward.1x1.8x${pb}`,
    code: `${TILED_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${elementwiseMain('u.count')}
  // gridW = pixel blocks per plane, phases = output-channel blocks.
  let bp = i % u.gridW;
  let rest = i / u.gridW;
  let bc = rest % u.phases;
  let n = rest / u.phases;
  let plane = u.H * u.W;
  ${px.map((k) => `let p${k} = min(bp * ${pb}u + ${k}u, u.pixels - 1u);
  let oh${k} = p${k} / u.OW;
  var xi${k} = n * u.C * plane + oh${k} * u.SH * u.W + (p${k} - oh${k} * u.OW) * u.SW;`).join('\n  ')}
  ${px.map((k) => `var a${k}_0 = vec4<f32>(0.0); var a${k}_1 = vec4<f32>(0.0);`).join('\n  ')}
  var wi = bc * 2u;
  for (var ic = 0u; ic < u.C; ic++) {
    let w0 = weightT[wi];
    let w1 = weightT[wi + 1u];
    ${px.map((k) => `let v${k} = x[xi${k}];
    a${k}_0 += w0 * v${k}; a${k}_1 += w1 * v${k};
    xi${k} += plane;`).join('\n    ')}
    wi += u.vecPerTap;
  }
  ${range(8).map((o) => `{
    let oc = bc * 8u + ${o}u;
    if (oc < u.OC) {
      var b = 0.0;
      if (u.hasBias != 0u) { b = bias[oc]; }
      let base = (n * u.OC + oc) * u.pixels;
      ${px.map((k) => `if (bp * ${pb}u + ${k}u < u.pixels) {
        let v = a${k}_${o >> 2}.${'xyzw'[o & 3]} + b;
        if (u.accumulate != 0u) { y[base + p${k}] = y[base + p${k}] + v; } else { y[base + p${k}] = v; }
      }`).join('\n      ')}
    }
  }`).join('\n  ')}
}`,
  };
}

/**
 * Forward, the blocked kernel's scheme (one invocation: 8 output channels × `pb` consecutive
 * pixels of one output row, weights [C][KH][KW][OCpad8]) with pb a multiple of 4.
 * Dispatch grid1d(N · ceil(OC/8) · OH · ceil(OW/pb)); gridW = ceil(OW/pb), phases = ceil(OC/8).
 */
export function conv2dForwardRow(pb: number): KernelSource {
  if (pb % 4 !== 0) throw new Error(`conv2d row kernel: ${pb} pixels per invocation is not a multiple of 4`);
  const g = range(pb / 4);
  return {
    name: `conv2d.forward.row.8x${pb}`,
    key: `conv2d.forward.row.8x${pb}`,
    code: `${TILED_UNIFORMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${elementwiseMain('u.count')}
  let bw = i % u.gridW;
  let rest = i / u.gridW;
  let oh = rest % u.OH;
  let rest2 = rest / u.OH;
  let bc = rest2 % u.phases;
  let n = rest2 / u.phases;
  let ow0 = bw * ${pb}u;
  ${g.map((q) => `let iwBase${q} = vec4<i32>(vec4<u32>(ow0 + ${4 * q}u) + vec4<u32>(0u, 1u, 2u, 3u)) * i32(u.SW) - vec4<i32>(i32(u.PW));`).join('\n  ')}
  ${g.map((q) => range(8).map((j) => `var a${q}_${j} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  let W = i32(u.W);
  for (var ic = 0u; ic < u.C; ic++) {
    for (var kh = 0u; kh < u.KH; kh++) {
      let ih = i32(oh * u.SH + kh) - i32(u.PH);
      if (ih < 0 || ih >= i32(u.H)) { continue; }
      let row = ((n * u.C + ic) * u.H + u32(ih)) * u.W;
      var wi = ((ic * u.KH + kh) * u.KW) * u.vecPerTap + bc * 2u;
      for (var kw = 0; kw < i32(u.KW); kw++) {
        let w0 = weightT[wi];
        let w1 = weightT[wi + 1u];
        ${g.map((q) => `let iw${q} = iwBase${q} + vec4<i32>(kw);
        let in${q} = (iw${q} >= vec4<i32>(0)) & (iw${q} < vec4<i32>(W));
        let xv${q} = vec4<f32>(
          select(0.0, x[row + u32(iw${q}.x)], in${q}.x), select(0.0, x[row + u32(iw${q}.y)], in${q}.y),
          select(0.0, x[row + u32(iw${q}.z)], in${q}.z), select(0.0, x[row + u32(iw${q}.w)], in${q}.w));
        a${q}_0 += w0.x * xv${q}; a${q}_1 += w0.y * xv${q}; a${q}_2 += w0.z * xv${q}; a${q}_3 += w0.w * xv${q};
        a${q}_4 += w1.x * xv${q}; a${q}_5 += w1.y * xv${q}; a${q}_6 += w1.z * xv${q}; a${q}_7 += w1.w * xv${q};`).join('\n        ')}
        wi += u.vecPerTap;
      }
    }
  }
  ${range(8).map((j) => `{
    let oc = bc * 8u + ${j}u;
    if (oc < u.OC) {
      var b = 0.0;
      if (u.hasBias != 0u) { b = bias[oc]; }
      let base = ((n * u.OC + oc) * u.OH + oh) * u.OW;
      ${g.map((q) => range(4).map((c) => `if (ow0 + ${4 * q + c}u < u.OW) { y[base + ow0 + ${4 * q + c}u] = a${q}_${j}.${'xyzw'[c]} + b; }`).join('\n      ')).join('\n      ')}
    }
  }`).join('\n  ')}
}`,
  };
}

/**
 * Input gradient, the blocked kernel's phase scheme with `pb` (a multiple of 4) same-phase
 * input columns per invocation: iw = r + SW·(pb·b + t). Weights [KH][KW][OC][Cpad8].
 * Dispatch grid1d(N · ceil(C/8) · H · gridW), gridW = SW · ceil(ceil(W/SW)/pb), phases = ceil(C/8).
 */
export function conv2dBackwardInputRow(pb: number): KernelSource {
  if (pb % 4 !== 0) throw new Error(`conv2d row kernel: ${pb} pixels per invocation is not a multiple of 4`);
  const g = range(pb / 4);
  return {
    name: `conv2d.backward_input.row.8x${pb}`,
    key: `conv2d.backward_input.row.8x${pb}`,
    code: `${TILED_UNIFORMS}
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read> weightT: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gradInput: array<f32>;
${elementwiseMain('u.count')}
  let perPhase = u.gridW / u.SW;
  let bwAll = i % u.gridW;
  let r = bwAll / perPhase;
  let b = bwAll % perPhase;
  let rest = i / u.gridW;
  let ih = rest % u.H;
  let rest2 = rest / u.H;
  let bc = rest2 % u.phases;
  let n = rest2 / u.phases;
  ${g.map((q) => range(8).map((j) => `var a${q}_${j} = vec4<f32>(0.0);`).join(' ')).join('\n  ')}
  let jw0 = i32(b * ${pb}u);
  let OW = i32(u.OW);
  let gplane = u.OH * u.OW;
  for (var kh = (ih + u.PH) % u.SH; kh < u.KH; kh += u.SH) {
    let t = i32(ih + u.PH) - i32(kh);
    if (t < 0) { break; }
    let oh = u32(t) / u.SH;
    if (oh >= u.OH) { continue; }
    for (var kw = (r + u.PW) % u.SW; kw < u.KW; kw += u.SW) {
      // ow of the first pixel; exact division (the numerator is a multiple of SW).
      let q = (i32(r + u.PW) - i32(kw)) / i32(u.SW);
      ${g.map((p) => `let ow${p} = vec4<i32>(jw0 + q + ${4 * p}) + vec4<i32>(0, 1, 2, 3);
      let in${p} = (ow${p} >= vec4<i32>(0)) & (ow${p} < vec4<i32>(OW));`).join('\n      ')}
      if (!(${g.map((p) => `any(in${p})`).join(' || ')})) { continue; }
      var gi = (n * u.OC * u.OH + oh) * u.OW;
      var wi = ((kh * u.KW + kw) * u.OC) * u.vecPerTap + bc * 2u;
      for (var oc = 0u; oc < u.OC; oc++) {
        let w0 = weightT[wi];
        let w1 = weightT[wi + 1u];
        ${g.map((p) => `let gv${p} = vec4<f32>(
          select(0.0, gradOutput[gi + u32(ow${p}.x)], in${p}.x), select(0.0, gradOutput[gi + u32(ow${p}.y)], in${p}.y),
          select(0.0, gradOutput[gi + u32(ow${p}.z)], in${p}.z), select(0.0, gradOutput[gi + u32(ow${p}.w)], in${p}.w));
        a${p}_0 += w0.x * gv${p}; a${p}_1 += w0.y * gv${p}; a${p}_2 += w0.z * gv${p}; a${p}_3 += w0.w * gv${p};
        a${p}_4 += w1.x * gv${p}; a${p}_5 += w1.y * gv${p}; a${p}_6 += w1.z * gv${p}; a${p}_7 += w1.w * gv${p};`).join('\n        ')}
        gi += gplane;
        wi += u.vecPerTap;
      }
    }
  }
  ${range(8).map((j) => `{
    let ic = bc * 8u + ${j}u;
    if (ic < u.C) {
      let base = ((n * u.C + ic) * u.H + ih) * u.W;
      ${g.map((p) => range(4).map((c) => `{
        let iw = r + u.SW * (b * ${pb}u + ${4 * p + c}u);
        if (iw < u.W) {
          let v = a${p}_${j}.${'xyzw'[c]};
          if (u.accumulate != 0u) { gradInput[base + iw] = gradInput[base + iw] + v; } else { gradInput[base + iw] = v; }
        }
      }`).join('\n      ')).join('\n      ')}
    }
  }`).join('\n  ')}
}`,
  };
}
