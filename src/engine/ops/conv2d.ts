// conv2d: NCHW input, [OC][C][KH][KW] weight, optional bias; gradients for the input (blocked
// kernel; the image gradient is the one inversion needs), the weight and the bias.
import { grid1d } from '../gpu.ts';
import type { Tape } from '../tape.ts';
import { Tensor, assertRank, shapeStr } from '../tensor.ts';
import {
  CONV_CHANNEL_BLOCK, CONV_PIXEL_BLOCK, conv2dBackwardInputNaive,
  conv2dBackwardWeight, conv2dForwardNaive, conv2dWeightLayout,
} from '../../shaders/conv2d.ts';
import { CONV_TILED_WORKGROUP, type ConvTile, conv2dBackwardInputTiled, conv2dBackwardInputRow, conv2dForward1x1, conv2dForwardRow, conv2dForwardTiled } from '../../shaders/conv2d-tiled.ts';
import { channelGradientSum } from '../../shaders/batchnorm.ts';

export interface Conv2dParams {
  stride?: number | [number, number];
  padding?: number | [number, number];
  /**
   * Kernel variant. 'naive' is the one-output-per-thread oracle (the default when the weight
   * requires grad); 'blocked' the 8 channels × 4 pixels per-thread tiles; 'row' the same scheme
   * with 8 × tile.pb (default 8) pixels; 'tiled' the lane-per-pixel tiles of conv2d-tiled.ts;
   * '1x1' the flattened-pixel GEMM for 1×1 unpadded convolutions (forward; input gradient too
   * at stride 1, else 'blocked'); 'auto' (the default for frozen weights) picks per shape, see
   * conv2dKernels.
   */
  variant?: Conv2dVariant;
  /** Tile of the 'tiled' variant (default: see tiledTile); for '1x1' only pb (pixels per invocation) counts. */
  tile?: ConvTile;
  label?: string;
}

export type Conv2dVariant = 'auto' | 'blocked' | 'row' | 'tiled' | '1x1' | 'naive';
/** Kernels actually dispatched: 'blocked' is the 'row' kernel with the first 8 × 4 tile. */
type Kernel = Exclude<Conv2dVariant, 'auto' | 'blocked'>;

export interface Conv2dGeometry {
  N: number; C: number; H: number; W: number;
  OC: number; OH: number; OW: number; KH: number; KW: number;
  SH: number; SW: number; PH: number; PW: number;
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v;

export function conv2dGeometry(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams, label = 'conv2d'): Conv2dGeometry {
  const [N, C, H, W] = xShape;
  const [OC, WC, KH, KW] = wShape;
  const [SH, SW] = pair(p.stride, 1);
  const [PH, PW] = pair(p.padding, 0);
  if (WC !== C) throw new Error(`${label}: input has ${C} channels but the weight ${shapeStr(wShape)} expects ${WC}`);
  if (SH < 1 || SW < 1 || PH < 0 || PW < 0) throw new Error(`${label}: invalid stride ${SH}×${SW} or padding ${PH}×${PW}`);
  const OH = Math.floor((H + 2 * PH - KH) / SH) + 1;
  const OW = Math.floor((W + 2 * PW - KW) / SW) + 1;
  if (OH < 1 || OW < 1) throw new Error(`${label}: input ${shapeStr(xShape)} is too small for kernel ${KH}×${KW} with padding ${PH}×${PW}`);
  return { N, C, H, W, OC, OH, OW, KH, KW, SH, SW, PH, PW };
}

function uniforms(g: Conv2dGeometry, extra: { count: number; blocksW?: number; blocksC?: number; hasBias?: number; accumulate?: number; Cpad?: number }) {
  return {
    N: g.N, C: g.C, H: g.H, W: g.W, OC: g.OC, OH: g.OH, OW: g.OW, KH: g.KH, KW: g.KW,
    SH: g.SH, SW: g.SW, PH: g.PH, PW: g.PW, count: extra.count, blocksW: extra.blocksW ?? 0,
    blocksC: extra.blocksC ?? 0, hasBias: extra.hasBias ?? 0, accumulate: extra.accumulate ?? 0,
    Cpad: extra.Cpad ?? 0, pad1: 0,
  };
}

function tiledUniforms(g: Conv2dGeometry, e: { pixels: number; gridW: number; vecPerTap: number; hasBias: number; accumulate: number; phases: number; count?: number }) {
  return {
    C: g.C, H: g.H, W: g.W, OC: g.OC, OH: g.OH, OW: g.OW, KH: g.KH, KW: g.KW, SH: g.SH, SW: g.SW, PH: g.PH, PW: g.PW,
    pixels: e.pixels, gridW: e.gridW, vecPerTap: e.vecPerTap, hasBias: e.hasBias, accumulate: e.accumulate, phases: e.phases,
    count: e.count ?? 0, pad1: 0,
  };
}

/** Pixels per invocation of the 'row' kernels. */
const ROW_PIXELS = 8;
/** Pixels per invocation of the 1×1 forward kernel. */
const PIXELS_1X1 = 4;

const is1x1 = (g: Conv2dGeometry) => g.KH === 1 && g.KW === 1 && g.PH === 0 && g.PW === 0;

/**
 * The kernels 'auto' runs (measured on llvmpipe, 2 cores, at the AlexNet/ResNet50 shapes):
 * forward, the 1×1 GEMM for stride-1 1×1 layers (its input-gradient form measured slower) and
 * 'row' (8 channels × 8 pixels) for the rest, 1.2–2× over 'blocked' (8×4); input gradient, 'tiled'
 * with 4 channels × 16 pixels when the input has at most 4 channels (the image layer: 8-channel
 * blocks would compute 5 padding channels), else 'row'. 'tiled' with wide channel blocks loses
 * on small planes, where most of its 64 pixel lanes idle. On other adapters ('generic' profile)
 * the image layer's input gradient uses 'row' too: SwiftShader (Chromium's fallback adapter)
 * never finishes compiling the 16-pixel tiled kernel (12+ pixels per invocation; 8 take 5–8 s).
 */
export function conv2dKernels(g: Conv2dGeometry, variant: Conv2dVariant, profile: 'llvmpipe' | 'generic' = 'llvmpipe'): { forward: Kernel; backwardInput: Kernel } {
  if (variant === '1x1' && !is1x1(g)) throw new Error(`conv2d: variant '1x1' needs a 1×1 kernel without padding, got ${g.KH}×${g.KW} padding ${g.PH}×${g.PW}`);
  // Stride-1 1×1: flattened pixels are contiguous in x and y, the plain GEMM.
  const gemmBackward = is1x1(g) && g.SH === 1 && g.SW === 1;
  if (variant === 'blocked') return { forward: 'row', backwardInput: 'row' };
  if (variant !== 'auto') return { forward: variant, backwardInput: variant === '1x1' ? (gemmBackward ? '1x1' : 'row') : variant };
  return { forward: gemmBackward ? '1x1' : 'row', backwardInput: g.C <= 4 && profile === 'llvmpipe' ? 'tiled' : 'row' };
}

/** Tile of the 'tiled' kernels when none is given. */
export function tiledTile(g: Conv2dGeometry, pass: 'forward' | 'backwardInput'): ConvTile {
  return pass === 'backwardInput' && g.C <= 4 ? { cb: 4, pb: 16 } : { cb: 16, pb: 4 };
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

/**
 * The weight in a blocked kernel's layout, made once per weight tensor (weights are frozen
 * during inversion) and queued to run before the next submit.
 */
function weightLayout(tape: Tape, w: Tensor, mode: 0 | 1, block = CONV_CHANNEL_BLOCK): Tensor {
  const key = `conv2d.layout${mode}.pad${block}`;
  const cached = w.derived.get(key);
  if (cached) return cached;
  if (w.requiresGrad) throw new Error(`conv2d: the blocked kernels need frozen weights; ${w} requires grad (use variant 'naive')`);
  const [OC, C, KH, KW] = w.shape;
  const padded = roundUp(mode === 0 ? OC : C, block);
  const count = (mode === 0 ? C : OC) * KH * KW * padded;
  const gpu = tape.gpu;
  const buf = gpu.createBuffer(`${w.label} layout ${mode === 0 ? '[C][KH][KW][OCpad]' : '[KH][KW][OC][Cpad]'}`, count * 4);
  const t = new Tensor([count], buf, buf.label);
  gpu.enqueueSetup(gpu.dispatch(conv2dWeightLayout(), buf.label, { weight: w.buffer, weightT: buf },
    { OC, C, KH, KW, padded, count, mode, pad0: 0 }, grid1d(count)));
  w.derived.set(key, t);
  return t;
}

export function conv2d(tape: Tape, x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv2dParams = {}): Tensor {
  const label = p.label ?? 'conv2d';
  assertRank(label, x, 4);
  assertRank(label, weight, 4);
  const g = conv2dGeometry(x.shape, weight.shape, p, label);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== g.OC)) throw new Error(`${label}: bias ${bias} does not match ${g.OC} output channels`);
  const variant = p.variant ?? (weight.requiresGrad ? 'naive' : 'auto');
  const kernels = conv2dKernels(g, variant, tape.gpu.profile);
  // 'blocked' keeps the first register-blocked tile (8 channels × 4 pixels) selectable.
  // p.tile describes the variant asked for; a 'row' kernel used as another variant's fallback keeps its default.
  const rowPixels = variant === 'blocked' ? CONV_PIXEL_BLOCK : variant === 'row' ? p.tile?.pb ?? ROW_PIXELS : ROW_PIXELS;
  const gpu = tape.gpu;
  const y = tape.tensor([g.N, g.OC, g.OH, g.OW], label, x.requiresGrad || weight.requiresGrad || !!bias?.requiresGrad);
  const what = `${label} forward x${shapeStr(x.shape)} w${shapeStr(weight.shape)} s${g.SH},${g.SW} p${g.PH},${g.PW}`;
  const biasBuf = bias?.buffer ?? weight.buffer;
  const hasBias = bias ? 1 : 0;
  if (kernels.forward === 'tiled') {
    const tile = p.tile ?? tiledTile(g, 'forward');
    const wt = weightLayout(tape, weight, 0, tile.cb);
    const pixels = g.OH * g.OW;
    tape.push(gpu.dispatch(conv2dForwardTiled(tile), what, { x: x.buffer, weightT: wt.buffer, bias: biasBuf, y: y.buffer },
      tiledUniforms(g, { pixels, gridW: 0, vecPerTap: roundUp(g.OC, tile.cb) / 4, hasBias, accumulate: 0, phases: 1 }),
      [Math.ceil(pixels / (CONV_TILED_WORKGROUP * tile.pb)), Math.ceil(g.OC / tile.cb), g.N]));
  } else if (kernels.forward === 'row') {
    const wt = weightLayout(tape, weight, 0);
    const pb = rowPixels;
    const gridW = Math.ceil(g.OW / pb), blocksC = Math.ceil(g.OC / CONV_CHANNEL_BLOCK);
    const count = g.N * blocksC * g.OH * gridW;
    tape.push(gpu.dispatch(conv2dForwardRow(pb), what, { x: x.buffer, weightT: wt.buffer, bias: biasBuf, y: y.buffer },
      tiledUniforms(g, { pixels: 0, gridW, vecPerTap: roundUp(g.OC, CONV_CHANNEL_BLOCK) / 4, hasBias, accumulate: 0, phases: blocksC, count }),
      grid1d(count)));
  } else if (kernels.forward === '1x1') {
    const wt = weightLayout(tape, weight, 0);
    const pixels = g.OH * g.OW;
    const pb = p.tile?.pb ?? PIXELS_1X1;
    const pixelBlocks = Math.ceil(pixels / pb), blocksC = Math.ceil(g.OC / CONV_CHANNEL_BLOCK);
    const count = g.N * blocksC * pixelBlocks;
    tape.push(gpu.dispatch(conv2dForward1x1(pb), what, { x: x.buffer, weightT: wt.buffer, bias: biasBuf, y: y.buffer },
      tiledUniforms(g, { pixels, gridW: pixelBlocks, vecPerTap: roundUp(g.OC, CONV_CHANNEL_BLOCK) / 4, hasBias, accumulate: 0, phases: blocksC, count }),
      grid1d(count)));
  } else {
    const count = y.size;
    tape.push(gpu.dispatch(conv2dForwardNaive(), what, { x: x.buffer, weight: weight.buffer, bias: biasBuf, y: y.buffer },
      uniforms(g, { count, hasBias }), grid1d(count)));
  }
  tape.record({
    name: label, inputs: bias ? [x, weight, bias] : [x, weight], output: y,
    backward: (t) => {
      const gy = y.grad!;
      if (x.requiresGrad) conv2dBackwardInput(t, gy, weight, x, g, kernels.backwardInput,
        kernels.backwardInput === '1x1' ? { cb: CONV_CHANNEL_BLOCK, pb: p.tile?.pb ?? PIXELS_1X1 }
          : kernels.backwardInput === 'row' ? { cb: CONV_CHANNEL_BLOCK, pb: rowPixels }
          : p.tile ?? tiledTile(g, 'backwardInput'), label);
      if (weight.requiresGrad) {
        const gw = t.gradOf(weight);
        t.push(t.gpu.dispatch(conv2dBackwardWeight(), `${label} backward weight ${shapeStr(weight.shape)}`,
          { x: x.buffer, gradOutput: gy.buffer, gradWeight: gw.tensor.buffer },
          uniforms(g, { count: weight.size, accumulate: gw.accumulate }), grid1d(weight.size)));
      }
      if (bias?.requiresGrad) {
        const gb = t.gradOf(bias);
        t.push(t.gpu.dispatch(channelGradientSum(), `${label} backward bias ${shapeStr(bias.shape)}`,
          { gradOutput: gy.buffer, x: gy.buffer, mean: gy.buffer, variance: gy.buffer, out: gb.tensor.buffer },
          { count: 0, C: g.OC, HW: g.OH * g.OW, accumulate: gb.accumulate, eps: 0, N: g.N, mode: 0, pad0: 0 }, [g.OC, 1, 1]));
      }
    },
  });
  return y;
}

function conv2dBackwardInput(tape: Tape, gy: Tensor, weight: Tensor, x: Tensor, g: Conv2dGeometry, variant: Kernel, tile: ConvTile, label: string): void {
  const gx = tape.gradOf(x);
  const what = `${label} backward input gy${shapeStr(gy.shape)} w${shapeStr(weight.shape)} s${g.SH},${g.SW} p${g.PH},${g.PW}`;
  const gpu = tape.gpu;
  if (variant === '1x1') {
    // gx[c][p] = Σ_oc W[oc][c]·gy[oc][p]: the 1×1 forward GEMM over gy with the [OC][Cpad8] layout.
    const wt = weightLayout(tape, weight, 1);
    const pixels = g.H * g.W;
    const pb = tile.pb;
    const pixelBlocks = Math.ceil(pixels / pb), blocksC = Math.ceil(g.C / CONV_CHANNEL_BLOCK);
    const count = g.N * blocksC * pixelBlocks;
    const r: Conv2dGeometry = { ...g, C: g.OC, OC: g.C, H: g.OH, W: g.OW, OH: g.H, OW: g.W };
    tape.push(gpu.dispatch(conv2dForward1x1(pb), what, { x: gy.buffer, weightT: wt.buffer, bias: weight.buffer, y: gx.tensor.buffer },
      tiledUniforms(r, { pixels, gridW: pixelBlocks, vecPerTap: roundUp(g.C, CONV_CHANNEL_BLOCK) / 4, hasBias: 0, accumulate: gx.accumulate, phases: blocksC, count }),
      grid1d(count)));
    return;
  }
  if (variant === 'row') {
    const wt = weightLayout(tape, weight, 1);
    const pb = tile.pb;
    const gridW = g.SW * Math.ceil(Math.ceil(g.W / g.SW) / pb), blocksC = Math.ceil(g.C / CONV_CHANNEL_BLOCK);
    const count = g.N * blocksC * g.H * gridW;
    tape.push(gpu.dispatch(conv2dBackwardInputRow(pb), what, { gradOutput: gy.buffer, weightT: wt.buffer, gradInput: gx.tensor.buffer },
      tiledUniforms(g, { pixels: 0, gridW, vecPerTap: roundUp(g.C, CONV_CHANNEL_BLOCK) / 4, hasBias: 0, accumulate: gx.accumulate, phases: blocksC, count }),
      grid1d(count)));
    return;
  }
  if (variant === 'tiled') {
    const wt = weightLayout(tape, weight, 1, tile.cb);
    const gridW = Math.ceil(g.W / g.SW);
    const pixels = Math.ceil(g.H / g.SH) * gridW;
    const phases = g.SH * g.SW;
    tape.push(gpu.dispatch(conv2dBackwardInputTiled(tile), what, { gradOutput: gy.buffer, weightT: wt.buffer, gradInput: gx.tensor.buffer },
      tiledUniforms(g, { pixels, gridW, vecPerTap: roundUp(g.C, tile.cb) / 4, hasBias: 0, accumulate: gx.accumulate, phases }),
      [Math.ceil(pixels / (CONV_TILED_WORKGROUP * tile.pb)), Math.ceil(g.C / tile.cb), g.N * phases]));
    return;
  }
  const count = x.size;
    tape.push(gpu.dispatch(conv2dBackwardInputNaive(), what, { gradOutput: gy.buffer, weight: weight.buffer, gradInput: gx.tensor.buffer },
      uniforms(g, { count, accumulate: gx.accumulate }), grid1d(count)));
}
