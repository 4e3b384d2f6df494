// torch.save files: the zip archive format (torch >= 1.6 default) and the legacy
// stream of pickles (`_use_new_zipfile_serialization=False`). See FACTS.md
// "torch.save file format".

import { DTYPE_SIZE, type DType, decodeRange, gather, isContiguous, product, viewExtent } from './dtype.ts';
import { PyDict, PyGlobal, PyTuple, type PyValue, unpickle } from './pickle.ts';
import { type StateDict, type WeightTensor, withFileName } from './types.ts';
import { looksLikeZip, readZip } from './zip.ts';

const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  'torch FloatStorage': 'float32',
  'torch HalfStorage': 'float16',
  'torch BFloat16Storage': 'bfloat16',
  'torch DoubleStorage': 'float64',
  'torch LongStorage': 'int64',
  'torch IntStorage': 'int32',
  'torch ShortStorage': 'int16',
  'torch CharStorage': 'int8',
  'torch ByteStorage': 'uint8',
  'torch BoolStorage': 'bool',
};

/** 0x1950a86a20f9469cfc6c as LONG1 bytes, little-endian. */
const LEGACY_MAGIC = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_MAGIC_VALUE = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
const MAX_DIMS = 64;

/** PROTO n, LONG1 10 bytes, then the magic number. */
export function looksLikeLegacyTorch(bytes: Uint8Array): boolean {
  if (bytes.length < 14 || bytes[0] !== 0x80 || bytes[2] !== 0x8a || bytes[3] !== 10) return false;
  return LEGACY_MAGIC.every((b, i) => bytes[4 + i] === b);
}

class StorageRef {
  data: Uint8Array | null = null;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    /** Legacy storage views: a window of `parent` starting at element `parentOffset`. */
    readonly parent: StorageRef | null = null,
    readonly parentOffset = 0,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyGlobal) return `global '${v.qualified}'`;
  if (v instanceof StorageRef) return 'storage';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

function intArg(v: PyValue, what: string): number {
  if (typeof v === 'bigint') throw new Error(`${what} ${v} is too large`);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what} is a ${describe(v)}, not an int`);
  return v;
}

function intTuple(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple)) throw new Error(`${what} is a ${describe(v)}, not a tuple`);
  if (v.items.length > MAX_DIMS) throw new Error(`${what} has ${v.items.length} dimensions (at most ${MAX_DIMS})`);
  return v.items.map((x, i) => {
    const n = intArg(x, `${what}[${i}]`);
    if (n < 0) throw new Error(`${what}[${i}] is negative (${n})`);
    return n;
  });
}

/** REDUCE hook: torch's tensor rebuild functions become TensorRefs; nothing runs. */
function reduceTorch(fn: PyGlobal, args: PyTuple, at: number): PyValue {
  const a = args.items;
  switch (fn.qualified) {
    case 'torch._utils _rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.length < 6 || a.length > 7) throw new Error(`_rebuild_tensor_v2 with ${a.length} arguments at byte ${at}`);
      const storage = a[0];
      if (!(storage instanceof StorageRef)) {
        throw new Error(`_rebuild_tensor_v2 at byte ${at} got a ${describe(storage)} instead of a storage`);
      }
      const offset = intArg(a[1], `storage offset at byte ${at}`);
      if (offset < 0) throw new Error(`negative storage offset ${offset} at byte ${at}`);
      const size = intTuple(a[2], `tensor size at byte ${at}`);
      const stride = intTuple(a[3], `tensor stride at byte ${at}`);
      if (size.length !== stride.length) {
        throw new Error(`tensor at byte ${at} has size [${size}] but stride [${stride}]`);
      }
      return new TensorRef(storage, offset, size, stride) as unknown as PyValue;
    }
    case 'torch._utils _rebuild_parameter': {
      // (data, requires_grad, backward_hooks): a Parameter is just its tensor here.
      if (a.length !== 3 || !(a[0] instanceof TensorRef)) {
        throw new Error(`_rebuild_parameter at byte ${at} does not wrap a tensor`);
      }
      return a[0];
    }
  }
  throw new Error(`REDUCE of '${fn.qualified}' at byte ${at} is not supported`);
}

function storageDtype(t: PyValue, at: number): DType {
  const d = t instanceof PyGlobal ? STORAGE_DTYPES[t.qualified] : undefined;
  if (!d) throw new Error(`persistent id at byte ${at} names ${describe(t)}, not a storage type`);
  return d;
}

/**
 * persistent_load for both formats: ('storage', type, key, location, numel) in zip
 * files, plus a sixth view_metadata field in legacy ones.
 */
function storageLoader(legacy: boolean, roots: Map<string, StorageRef>, views: Map<string, StorageRef>) {
  return (pid: PyValue, at: number): PyValue => {
    if (!(pid instanceof PyTuple)) throw new Error(`persistent id at byte ${at} is a ${describe(pid)}, not a tuple`);
    const f = pid.items;
    if (f[0] === 'module') throw new Error(`file pickles a whole nn.Module (byte ${at}); save model.state_dict() instead`);
    if (f[0] !== 'storage' || f.length !== (legacy ? 6 : 5)) {
      throw new Error(`persistent id at byte ${at} is not a ${legacy ? 6 : 5}-field storage reference`);
    }
    const dtype = storageDtype(f[1], at);
    const key = f[2];
    if (typeof key !== 'string') throw new Error(`storage key at byte ${at} is a ${describe(key)}, not a string`);
    const numel = intArg(f[4], `storage '${key}' element count`);
    if (numel < 0) throw new Error(`storage '${key}' has a negative element count`);
    let root = roots.get(key);
    if (!root) {
      root = new StorageRef(key, dtype, numel);
      roots.set(key, root);
    } else if (root.dtype !== dtype || root.numel !== numel) {
      throw new Error(`storage '${key}' is referenced as ${root.numel}×${root.dtype} and as ${numel}×${dtype}`);
    }
    const meta = legacy ? f[5] : null;
    if (meta === null) return root as unknown as PyValue;
    // Very old files: (view_key, offset, size) in elements of the root storage.
    if (!(meta instanceof PyTuple) || meta.items.length !== 3 || typeof meta.items[0] !== 'string') {
      throw new Error(`storage '${key}' has malformed view metadata at byte ${at}`);
    }
    const viewKey = meta.items[0];
    const off = intArg(meta.items[1], `storage view '${viewKey}' offset`);
    const n = intArg(meta.items[2], `storage view '${viewKey}' size`);
    if (off < 0 || n < 0 || off + n > numel) {
      throw new Error(`storage view '${viewKey}' [${off}, ${off + n}) lies outside storage '${key}' of ${numel} elements`);
    }
    let view = views.get(viewKey);
    if (!view) {
      view = new StorageRef(viewKey, dtype, n, root, off);
      views.set(viewKey, view);
    }
    return view as unknown as PyValue;
  };
}

function storageBytes(s: StorageRef): Uint8Array {
  if (s.parent) {
    const p = storageBytes(s.parent);
    const sz = DTYPE_SIZE[s.dtype];
    return p.subarray(s.parentOffset * sz, (s.parentOffset + s.numel) * sz);
  }
  if (!s.data) throw new Error(`storage '${s.key}' has no data in the file`);
  return s.data;
}

function materialise(key: string, t: TensorRef, budget: { left: number }): WeightTensor {
  const s = t.storage;
  const where = `tensor '${key}' (storage '${s.key}', offset ${t.offset}, size [${t.size}], stride [${t.stride}])`;
  const numel = product(t.size);
  const ext = viewExtent(t);
  if (ext && ext.hi > s.numel) {
    throw new Error(`${where} reaches element ${ext.hi - 1} of a ${s.numel}-element storage`);
  }
  const regionLen = ext ? ext.hi - ext.lo : 0;
  const contiguous = isContiguous(t.size, t.stride);
  // Stride-0 dimensions can make a tiny storage expand to anything: cap what we allocate.
  const cost = contiguous ? numel : numel + regionLen;
  if (cost > budget.left) {
    throw new Error(`${where} expands to ${numel} elements, more than this file can plausibly hold`);
  }
  budget.left -= cost;
  const bytes = storageBytes(s);
  let data: Float32Array;
  if (!ext) data = new Float32Array(0);
  else if (contiguous) data = decodeRange(bytes, s.dtype, ext.lo, numel);
  else data = gather(decodeRange(bytes, s.dtype, ext.lo, regionLen), ext.lo, t);
  return { shape: t.size.slice(), data, dtype: s.dtype };
}

function toStateDict(value: PyValue, fileBytes: number): StateDict {
  if (!(value instanceof PyDict)) throw new Error(`top-level object is a ${describe(value)}, not a state_dict`);
  let dict = value;
  // Training checkpoints often wrap the weights: {'state_dict': {...}, 'epoch': ...}.
  const inner = dict.map.get('state_dict');
  if (inner instanceof PyDict && ![...dict.map.values()].some((v) => v instanceof TensorRef)) dict = inner;
  const budget = { left: 4 * fileBytes + (1 << 20) };
  const out: StateDict = new Map();
  for (const [k, v] of dict.map) {
    if (typeof k !== 'string') throw new Error(`state_dict key ${String(k)} is a ${describe(k)}, not a string`);
    if (!(v instanceof TensorRef)) throw new Error(`state_dict key '${k}' holds a ${describe(v)}, not a tensor`);
    out.set(k, materialise(k, v, budget));
  }
  return out;
}

function readZipTorch(bytes: Uint8Array): StateDict {
  const zip = readZip(bytes);
  const pkls = zip.entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pkls.length === 0) {
    const names = zip.entries.slice(0, 5).map((e) => e.name).join(', ');
    throw new Error(`zip archive has no '<prefix>/data.pkl' entry, so it is not a torch.save file (entries: ${names})`);
  }
  if (pkls.length > 1) throw new Error(`zip archive has ${pkls.length} '*/data.pkl' entries`);
  const prefix = pkls[0].name.slice(0, -'/data.pkl'.length);
  const order = zip.get(`${prefix}/byteorder`);
  if (order) {
    const s = new TextDecoder().decode(zip.data(order)).trim();
    if (s !== 'little') throw new Error(`byteorder entry says '${s.slice(0, 20)}'; only little-endian files are supported`);
  }
  const roots = new Map<string, StorageRef>();
  const pkl = zip.data(pkls[0]);
  const { value } = unpickle(pkl, { persistentLoad: storageLoader(false, roots, new Map()), reduce: reduceTorch });
  for (const s of roots.values()) {
    const name = `${prefix}/data/${s.key}`;
    const entry = zip.get(name);
    if (!entry) throw new Error(`storage '${s.key}' is missing: no zip entry '${name}'`);
    const data = zip.data(entry);
    const need = s.numel * DTYPE_SIZE[s.dtype];
    if (data.length < need) {
      throw new Error(`zip entry '${name}' holds ${data.length} bytes but storage '${s.key}' needs ${need} (${s.numel}×${s.dtype})`);
    }
    s.data = data.subarray(0, need);
  }
  return toStateDict(value, bytes.length);
}

function readLegacyTorch(bytes: Uint8Array): StateDict {
  const none = new Set<string>();
  const magic = unpickle(bytes, { allowedGlobals: none });
  if (magic.value !== LEGACY_MAGIC_VALUE) throw new Error(`legacy torch file has the wrong magic number`);
  const proto = unpickle(bytes, { start: magic.end, allowedGlobals: none });
  if (proto.value !== LEGACY_PROTOCOL) {
    throw new Error(`legacy torch protocol ${String(proto.value)} is not supported (expected ${LEGACY_PROTOCOL})`);
  }
  const sys = unpickle(bytes, { start: proto.end, allowedGlobals: none });
  if (!(sys.value instanceof PyDict)) throw new Error(`legacy torch sys_info is a ${describe(sys.value)}, not a dict`);
  if (sys.value.map.get('little_endian') === false) {
    throw new Error(`legacy torch file was written on a big-endian machine; only little-endian files are supported`);
  }
  const roots = new Map<string, StorageRef>();
  const main = unpickle(bytes, {
    start: sys.end,
    persistentLoad: storageLoader(true, roots, new Map()),
    reduce: reduceTorch,
  });
  const keys = unpickle(bytes, { start: main.end, allowedGlobals: none });
  if (!Array.isArray(keys.value)) throw new Error(`legacy torch storage key list is a ${describe(keys.value)}, not a list`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value) {
    const s = typeof key === 'string' ? roots.get(key) : undefined;
    if (!s) throw new Error(`legacy torch storage key ${String(key)} at byte ${pos} was never referenced`);
    if (s.data) throw new Error(`legacy torch storage '${key}' appears twice in the key list`);
    if (pos + 8 > bytes.length) throw new Error(`truncated: storage '${key}' element count missing at byte ${pos}`);
    const lo = view.getUint32(pos, true);
    const hi = view.getUint32(pos + 4, true);
    const count = hi * 0x100000000 + lo;
    if (count !== s.numel) {
      throw new Error(`legacy storage '${key}' at byte ${pos} holds ${count} elements but the pickle declared ${s.numel}`);
    }
    pos += 8;
    const n = count * DTYPE_SIZE[s.dtype];
    if (pos + n > bytes.length) {
      throw new Error(`truncated: storage '${key}' needs ${n} bytes at byte ${pos}, ${bytes.length - pos} left`);
    }
    s.data = bytes.subarray(pos, pos + n);
    pos += n;
  }
  return toStateDict(main.value, bytes.length);
}

/** Read a torch.save file (zip or legacy format) holding a state_dict. */
export function readTorchFile(bytes: Uint8Array, name = 'weights'): StateDict {
  return withFileName(name, () => {
    if (looksLikeZip(bytes)) return readZipTorch(bytes);
    if (looksLikeLegacyTorch(bytes)) return readLegacyTorch(bytes);
    throw new Error(`not a torch.save file (neither a zip archive nor the legacy pickle format)`);
  });
}
