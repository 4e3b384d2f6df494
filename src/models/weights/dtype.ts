// Element types of weight files and their conversion to f32, plus strided gathers.
// Source bytes are always little-endian; on a (rare) big-endian host a DataView path
// keeps results correct.

export type DType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1,
  uint8: 1, uint16: 2, uint32: 4, uint64: 8, bool: 1,
};

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let f16Table: Float32Array | null = null;

/** IEEE half bits -> value, exact (every half is an f32). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

const bfScratch = new Uint32Array(1);
const bfScratchF = new Float32Array(bfScratch.buffer);

/** bfloat16 bits -> value: the top half of an f32. */
export function bf16ToF32(b: number): number {
  bfScratch[0] = (b & 0xffff) << 16;
  return bfScratchF[0];
}

/**
 * Decode `count` elements starting at element `first` of a little-endian storage into f32.
 * The caller has checked that the range lies inside `storage`.
 */
export function decodeRange(storage: Uint8Array, dtype: DType, first: number, count: number): Float32Array {
  const size = DTYPE_SIZE[dtype];
  const start = first * size;
  const nbytes = count * size;
  const out = new Float32Array(count);
  if (count === 0) return out;
  if (!HOST_LE) {
    decodeWithDataView(storage, dtype, start, count, out);
    return out;
  }
  // Copy once into an aligned buffer, then reinterpret it as the source type.
  const raw = storage.slice(start, start + nbytes).buffer;
  switch (dtype) {
    case 'float32': return new Float32Array(raw);
    case 'float64': out.set(new Float64Array(raw)); break;
    case 'int32': out.set(new Int32Array(raw)); break;
    case 'int16': out.set(new Int16Array(raw)); break;
    case 'int8': out.set(new Int8Array(raw)); break;
    case 'uint8': out.set(new Uint8Array(raw)); break;
    case 'uint16': out.set(new Uint16Array(raw)); break;
    case 'uint32': out.set(new Uint32Array(raw)); break;
    case 'bool': {
      const b = new Uint8Array(raw);
      for (let i = 0; i < count; i++) out[i] = b[i] ? 1 : 0;
      break;
    }
    case 'float16': {
      const t = halfTable();
      const h = new Uint16Array(raw);
      for (let i = 0; i < count; i++) out[i] = t[h[i]];
      break;
    }
    case 'bfloat16': {
      const h = new Uint16Array(raw);
      const w = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) w[i] = h[i] << 16;
      break;
    }
    case 'int64':
    case 'uint64': {
      // hi * 2^32 + lo is exact below 2^53 and rounds like Number() above it.
      const w = new Uint32Array(raw);
      const signed = dtype === 'int64';
      for (let i = 0; i < count; i++) {
        const hi = signed ? w[2 * i + 1] | 0 : w[2 * i + 1];
        out[i] = hi * 4294967296 + w[2 * i];
      }
      break;
    }
  }
  return out;
}

function decodeWithDataView(storage: Uint8Array, dtype: DType, start: number, count: number, out: Float32Array) {
  const v = new DataView(storage.buffer, storage.byteOffset + start, count * DTYPE_SIZE[dtype]);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'float32': out[i] = v.getFloat32(4 * i, true); break;
      case 'float64': out[i] = v.getFloat64(8 * i, true); break;
      case 'int32': out[i] = v.getInt32(4 * i, true); break;
      case 'int16': out[i] = v.getInt16(2 * i, true); break;
      case 'int8': out[i] = v.getInt8(i); break;
      case 'uint8': out[i] = v.getUint8(i); break;
      case 'uint16': out[i] = v.getUint16(2 * i, true); break;
      case 'uint32': out[i] = v.getUint32(4 * i, true); break;
      case 'bool': out[i] = v.getUint8(i) ? 1 : 0; break;
      case 'float16': out[i] = f16ToF32(v.getUint16(2 * i, true)); break;
      case 'bfloat16': out[i] = bf16ToF32(v.getUint16(2 * i, true)); break;
      case 'int64': out[i] = v.getInt32(8 * i + 4, true) * 4294967296 + v.getUint32(8 * i, true); break;
      case 'uint64': out[i] = v.getUint32(8 * i + 4, true) * 4294967296 + v.getUint32(8 * i, true); break;
    }
  }
}

export function product(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export interface StridedView {
  offset: number;
  size: readonly number[];
  stride: readonly number[];
}

/**
 * Elements [lo, hi) of the storage that a view touches, or null for an empty view.
 * Sizes/strides must be non-negative safe integers (checked by the caller).
 */
export function viewExtent(v: StridedView): { lo: number; hi: number } | null {
  let last = v.offset;
  for (let d = 0; d < v.size.length; d++) {
    if (v.size[d] === 0) return null;
    last += (v.size[d] - 1) * v.stride[d];
  }
  return { lo: v.offset, hi: last + 1 };
}

export function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) return false;
    expect *= size[d];
  }
  return true;
}

/**
 * Contiguous row-major copy of a strided view whose touched elements `region` holds,
 * `region[0]` being storage element `base`.
 */
export function gather(region: Float32Array, base: number, v: StridedView): Float32Array {
  const n = product(v.size);
  const out = new Float32Array(n);
  if (n === 0) return out;
  const nd = v.size.length;
  if (nd === 0) {
    out[0] = region[v.offset - base];
    return out;
  }
  const inner = v.size[nd - 1];
  const innerStride = v.stride[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let src = v.offset - base;
  for (let o = 0; o < n; o += inner) {
    for (let i = 0, s = src; i < inner; i++, s += innerStride) out[o + i] = region[s];
    // Odometer over the outer dimensions.
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      src += v.stride[d];
      if (idx[d] < v.size[d]) break;
      src -= idx[d] * v.stride[d];
      idx[d] = 0;
    }
  }
  return out;
}
