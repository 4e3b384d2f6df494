// safetensors: u64 LE header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}} (offsets relative to the byte after the header), raw
// little-endian data.

import { DTYPE_SIZE, type DType, decodeRange, product } from './dtype.ts';
import { type StateDict, withFileName } from './types.ts';

const DTYPES: Readonly<Record<string, DType>> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8',
  U64: 'uint64', U32: 'uint32', U16: 'uint16', U8: 'uint8', BOOL: 'bool',
};

/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER = 100_000_000;

/** A plausible header length followed by a JSON object. */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint32(0, true) + v.getUint32(4, true) * 0x100000000;
  return n >= 2 && n <= MAX_HEADER && n <= bytes.length - 8 && bytes[8] === 0x7b; // '{'
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonNegInts(v: unknown, what: string, len?: number): number[] {
  if (!Array.isArray(v) || (len !== undefined && v.length !== len) || v.length > 64) {
    throw new Error(`${what} is not ${len !== undefined ? `a list of ${len}` : 'a list of'} non-negative integers`);
  }
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw new Error(`${what} holds ${JSON.stringify(x)}, not a non-negative integer`);
    }
  }
  return v as number[];
}

export function readSafetensors(bytes: Uint8Array, name = 'weights'): StateDict {
  return withFileName(name, () => {
    if (bytes.length < 8) throw new Error(`truncated safetensors file: ${bytes.length} bytes, no header length`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const lo = view.getUint32(0, true);
    const hi = view.getUint32(4, true);
    if (hi !== 0 || lo > MAX_HEADER) throw new Error(`safetensors header length ${hi * 2 ** 32 + lo} exceeds ${MAX_HEADER}`);
    if (8 + lo > bytes.length) {
      throw new Error(`truncated safetensors file: header of ${lo} bytes but only ${bytes.length - 8} follow`);
    }
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + lo)));
    } catch (e) {
      throw new Error(`safetensors header is not valid UTF-8 JSON (${(e as Error).message})`);
    }
    if (!isRecord(header)) throw new Error(`safetensors header is not a JSON object`);
    const data = bytes.subarray(8 + lo);
    const out: StateDict = new Map();
    for (const [key, info] of Object.entries(header)) {
      if (key === '__metadata__') continue;
      if (!isRecord(info)) throw new Error(`safetensors entry '${key}' is not an object`);
      const dt = info.dtype;
      const dtype = typeof dt === 'string' ? DTYPES[dt] : undefined;
      if (!dtype) throw new Error(`safetensors entry '${key}' has unsupported dtype ${JSON.stringify(dt)}`);
      const shape = nonNegInts(info.shape, `safetensors entry '${key}' shape`);
      const [begin, end] = nonNegInts(info.data_offsets, `safetensors entry '${key}' data_offsets`, 2);
      if (begin > end || end > data.length) {
        throw new Error(`safetensors entry '${key}' data_offsets [${begin}, ${end}] lie outside the ${data.length}-byte data`);
      }
      const numel = product(shape);
      if (numel * DTYPE_SIZE[dtype] !== end - begin) {
        throw new Error(
          `safetensors entry '${key}' has ${end - begin} bytes but shape [${shape}] of ${dtype} needs ${numel * DTYPE_SIZE[dtype]}`,
        );
      }
      out.set(key, { shape: shape.slice(), data: decodeRange(data.subarray(begin, end), dtype, 0, numel), dtype });
    }
    return out;
  });
}
