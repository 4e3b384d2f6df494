import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../src/engine/random.ts';
import { bf16ToF32, decodeRange, gather, type StridedView } from '../src/models/weights/dtype.ts';
import {
  checkStateDict,
  readSafetensors,
  readStateDict,
  readTorchFile,
  sniffWeightFormat,
  type StateDict,
} from '../src/models/weights/index.ts';
import { unpickle } from '../src/models/weights/pickle.ts';
import { readZip } from '../src/models/weights/zip.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'weights');
const load = (f: string) => new Uint8Array(readFileSync(join(DIR, f)));

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const EXPECTED: Record<string, Record<string, Expected>> = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));

const decodeExpected = (v: number | string) =>
  v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number);

// Seeded PRNG so a failing random case can be replayed (the seed is in the test name).
const SEED = Number(process.env.WEIGHTS_SEED ?? Math.floor(Math.random() * 2 ** 31));

// ---------- tiny writers for hand-made test files ----------

const te = new TextEncoder();
const u16 = (n: number) => [n & 0xff, (n >>> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: number) => [...u32(n % 2 ** 32), ...u32(Math.floor(n / 2 ** 32))];

/** Stored zip like torch writes it: flags 0x0808, zero local sizes, data descriptors, zip64 end. */
function makeZip(entries: [string, Uint8Array][], opts: { zip64Extra?: boolean; method?: number } = {}): Uint8Array {
  const out: number[] = [];
  const central: number[] = [];
  for (const [name, data] of entries) {
    const nb = [...te.encode(name)];
    const lho = out.length;
    out.push(...u32(0x04034b50), ...u16(20), ...u16(0x0808), ...u16(opts.method ?? 0), ...u32(0), ...u32(0));
    out.push(...u32(0), ...u32(0), ...u16(nb.length), ...u16(0), ...nb, ...data);
    out.push(...u32(0x08074b50), ...u32(0), ...u32(data.length), ...u32(data.length));
    const extra = opts.zip64Extra ? [...u16(1), ...u16(24), ...u64(data.length), ...u64(data.length), ...u64(lho)] : [];
    const big = opts.zip64Extra ? 0xffffffff : -1;
    central.push(...u32(0x02014b50), ...u16(45), ...u16(45), ...u16(0x0808), ...u16(opts.method ?? 0));
    central.push(...u32(0), ...u32(0), ...u32(big >= 0 ? big : data.length), ...u32(big >= 0 ? big : data.length));
    central.push(...u16(nb.length), ...u16(extra.length), ...u16(0), ...u16(0), ...u16(0), ...u32(0));
    central.push(...u32(big >= 0 ? big : lho), ...nb, ...extra);
  }
  const cdOffset = out.length;
  out.push(...central);
  const z64 = out.length;
  const n = entries.length;
  out.push(...u32(0x06064b50), ...u64(44), ...u16(45), ...u16(45), ...u32(0), ...u32(0));
  out.push(...u64(n), ...u64(n), ...u64(central.length), ...u64(cdOffset));
  out.push(...u32(0x07064b50), ...u32(0), ...u64(z64), ...u32(1));
  out.push(...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(0xffff), ...u16(0xffff));
  out.push(...u32(0xffffffff), ...u32(0xffffffff), ...u16(0));
  return new Uint8Array(out);
}

// Pickle assembly: each helper returns the opcodes that push one value.
const P = {
  str: (s: string) => [0x58, ...u32(te.encode(s).length), ...te.encode(s)],
  int: (n: number) => [0x4a, ...u32(n >>> 0)],
  global: (m: string, n: string) => [0x63, ...te.encode(`${m}\n${n}\n`)],
  tuple: (...items: number[][]) => [0x28, ...items.flat(), 0x74],
  odict: () => [...P.global('collections', 'OrderedDict'), 0x29, 0x52],
  storage: (key: string, type: string, numel: number) => [
    ...P.tuple(P.str('storage'), P.global('torch', type), P.str(key), P.str('cpu'), P.int(numel)),
    0x51,
  ],
  tensor: (storage: number[], offset: number, size: number[], stride: number[]) => [
    ...P.global('torch._utils', '_rebuild_tensor_v2'),
    ...P.tuple(storage, P.int(offset), P.tuple(...size.map(P.int)), P.tuple(...stride.map(P.int)), [0x89], P.odict()),
    0x52,
  ],
  /** Whole pickle: an OrderedDict of the given (key, value-opcodes) pairs. */
  stateDict: (pairs: [string, number[]][]) =>
    new Uint8Array([0x80, 0x02, ...P.odict(), 0x28, ...pairs.flatMap(([k, v]) => [...P.str(k), ...v]), 0x75, 0x2e]),
};

const f32bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { zip64Extra?: boolean } = {}) {
  return makeZip(
    [
      ['archive/data.pkl', pkl],
      ...Object.entries(storages).map(([k, v]) => [`archive/data/${k}`, v] as [string, Uint8Array]),
      ['archive/version', te.encode('3\n')],
    ],
    opts,
  );
}

function expectThrow(fn: () => unknown, ...parts: string[]) {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an error containing ${parts.join(' & ')}`).toBeInstanceOf(Error);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

function compareToExpected(file: string, sd: StateDict) {
  const exp = EXPECTED[file];
  expect([...sd.keys()]).toEqual(Object.keys(exp));
  for (const [key, e] of Object.entries(exp)) {
    const t = sd.get(key)!;
    expect(t.dtype, `${file} ${key} dtype`).toBe(e.dtype);
    expect(t.shape, `${file} ${key} shape`).toEqual(e.shape);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.data.length).toBe(e.values.length);
    // Tolerance: exact after rounding the source value to f32 (f32/f16/bf16/int sources
    // are exact already; f64 and large int64 round once, as the reader must).
    for (let i = 0; i < e.values.length; i++) {
      const want = Math.fround(decodeExpected(e.values[i]));
      if (!Object.is(t.data[i], want)) {
        throw new Error(`${file} ${key}[${i}]: got ${t.data[i]}, want ${want}`);
      }
    }
  }
}

// ---------- valid files ----------

describe('valid fixtures', () => {
  for (const file of Object.keys(EXPECTED)) {
    it(`${file} loads with the right keys, shapes, dtypes and values`, () => {
      compareToExpected(file, readStateDict(load(file), file));
    });
  }

  it('sniffs each format and the per-format readers agree with readStateDict', () => {
    expect(sniffWeightFormat(load('f32_convbn.pth'))).toBe('torch-zip');
    expect(sniffWeightFormat(load('legacy.pth'))).toBe('torch-legacy');
    expect(sniffWeightFormat(load('mixed.safetensors'))).toBe('safetensors');
    compareToExpected('legacy.pth', readTorchFile(load('legacy.pth'), 'legacy.pth'));
    compareToExpected('views.pth', readTorchFile(load('views.pth')));
    compareToExpected('mixed.safetensors', readSafetensors(load('mixed.safetensors')));
  });

  it('tensors sharing one storage each read their own window', () => {
    const sd = readStateDict(load('shared_storage.pth'));
    const c = Array.from(sd.get('c')!.data);
    expect(Array.from(sd.get('a')!.data)).toEqual(c.slice(0, 4));
    expect(Array.from(sd.get('b')!.data)).toEqual(c.slice(3, 9));
    expect(Array.from(sd.get('d')!.data)).toEqual(c.slice(9));
    // Materialised copies, not aliases of one buffer.
    expect(sd.get('a')!.data.buffer).not.toBe(sd.get('c')!.data.buffer);
  });

  it('reads a file whose zip input is a subarray at an odd offset', () => {
    const raw = load('views.pth');
    const padded = new Uint8Array(raw.length + 3);
    padded.set(raw, 3);
    compareToExpected('views.pth', readStateDict(padded.subarray(3), 'views.pth'));
  });

  it('reads a hand-made zip64 archive (extra fields), Parameters and a checkpoint wrapper', () => {
    const st = P.storage('0', 'FloatStorage', 6);
    const inner = [
      ...P.odict(),
      0x28,
      ...P.str('w'),
      ...P.tensor([...st, 0x71, 0x01], 1, [2, 2], [1, 2]),
      ...P.str('p'),
      ...P.global('torch._utils', '_rebuild_parameter'),
      ...P.tuple(P.tensor([0x68, 0x01], 0, [3], [2]), [0x88], P.odict()),
      0x52,
      0x75,
    ];
    const pkl = new Uint8Array([
      0x80, 0x02, 0x7d, 0x28, ...P.str('epoch'), ...P.int(3), ...P.str('state_dict'), ...inner, 0x75, 0x2e,
    ]);
    const sd = readTorchFile(torchZip(pkl, { '0': f32bytes([0, 1, 2, 3, 4, 5]) }, { zip64Extra: true }), 'ckpt.pth');
    expect(sd.get('w')).toEqual({ shape: [2, 2], dtype: 'float32', data: new Float32Array([1, 3, 2, 4]) });
    expect(sd.get('p')).toEqual({ shape: [3], dtype: 'float32', data: new Float32Array([0, 2, 4]) });
  });

  it('decodes every float16 bit pattern exactly (independent bit-level reference)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const got = decodeRange(new Uint8Array(all.buffer), 'float16', 0, 65536);
    const bits = new Uint32Array(1);
    const ref = new Float32Array(bits.buffer);
    for (let h = 0; h < 65536; h++) {
      const s = h >> 15;
      const e = (h >> 10) & 31;
      const m = h & 1023;
      let want: number;
      if (e === 0) want = (s ? -1 : 1) * m * 2 ** -24;
      else {
        bits[0] = (s << 31) | ((e === 31 ? 255 : e - 15 + 127) << 23) | (m << 13);
        want = ref[0];
      }
      if (!Object.is(got[h], want) && !(Number.isNaN(got[h]) && Number.isNaN(want))) {
        throw new Error(`f16 0x${h.toString(16)}: got ${got[h]}, want ${want}`);
      }
    }
  });

  it(`bfloat16 is the top half of an f32 (seed ${SEED})`, () => {
    const rnd = mulberry32(SEED);
    const f = new Float32Array(1000).map(() => (rnd() - 0.5) * 10 ** Math.floor(rnd() * 20 - 10));
    const w = new Uint32Array(f.buffer);
    const halves = new Uint16Array(1000).map((_, i) => w[i] >>> 16);
    const got = decodeRange(new Uint8Array(halves.buffer), 'bfloat16', 0, 1000);
    for (let i = 0; i < 1000; i++) {
      const truncated = new Float32Array(new Uint32Array([w[i] & 0xffff0000]).buffer)[0];
      expect(got[i]).toBe(truncated); // exact
      expect(bf16ToF32(halves[i])).toBe(truncated);
    }
  });

  it(`gather matches a naive strided copy on random views (seed ${SEED})`, () => {
    const rnd = mulberry32(SEED ^ 0x5bd1e995);
    const int = (n: number) => Math.floor(rnd() * n);
    for (let c = 0; c < 200; c++) {
      const nd = int(5);
      const size = Array.from({ length: nd }, () => 1 + int(5));
      const stride = Array.from({ length: nd }, () => int(7));
      const v: StridedView = { offset: int(9), size, stride };
      let hi = v.offset;
      for (let d = 0; d < nd; d++) hi += (size[d] - 1) * stride[d];
      const storage = new Float32Array(hi + 1 + int(4)).map(() => rnd());
      const lo = int(v.offset + 1); // any region start at or below the offset
      const got = gather(storage.subarray(lo), lo, v);
      const want: number[] = [];
      const walk = (d: number, at: number) => {
        if (d === nd) return void want.push(storage[at]);
        for (let i = 0; i < size[d]; i++) walk(d + 1, at + i * stride[d]);
      };
      walk(0, v.offset);
      expect(Array.from(got), `case ${c} ${JSON.stringify(v)}`).toEqual(want); // exact copy
    }
  });
});

// ---------- checkStateDict ----------

describe('checkStateDict', () => {
  const sd = readStateDict(load('f32_convbn.pth'));
  const shapes = () => new Map([...sd].map(([k, t]) => [k, t.shape.slice()]));
  const nbt = (k: string) => k.endsWith('num_batches_tracked');

  it('accepts a matching file, with or without num_batches_tracked when optional', () => {
    expect(() => checkStateDict(sd, shapes())).not.toThrow();
    const noNbt = readStateDict(load('f32_convbn_no_nbt.pth'));
    expect(() => checkStateDict(noNbt, shapes(), { optional: nbt })).not.toThrow();
    expectThrow(() => checkStateDict(noNbt, shapes()), '1 missing (1.num_batches_tracked)');
    const exp = shapes();
    exp.delete('1.num_batches_tracked');
    expect(() => checkStateDict(sd, exp, { optional: nbt })).not.toThrow();
  });

  it('reports missing, unexpected and mis-shaped keys in one message', () => {
    const exp = shapes();
    exp.set('fc.weight', [1000, 2048]);
    exp.set('fc.bias', [1000]);
    exp.set('0.weight', [4, 3, 3, 2]);
    exp.delete('2.bias');
    expectThrow(
      () => checkStateDict(sd, exp, { fileName: 'x.pth', modelName: 'resnet50', optional: nbt }),
      "weights 'x.pth' do not match resnet50: 2 missing (fc.weight, fc.bias), 1 unexpected (2.bias), " +
        '1 mis-shaped (0.weight: file [4,3,3,3], model [4,3,3,2])',
    );
  });

  it('lists the first few names and counts the rest', () => {
    const exp = new Map(Array.from({ length: 12 }, (_, i) => [`k${i}`, [i]] as [string, number[]]));
    expectThrow(
      () => checkStateDict(new Map(), exp, { listMax: 3 }),
      '12 missing (k0, k1, k2, … 9 more)',
    );
  });
});

// ---------- malformed and hostile files ----------

describe('refusals', () => {
  it('refuses a forbidden GLOBAL by name, in a fixture and in hand-made pickles', () => {
    expectThrow(() => readStateDict(load('bad_forbidden_global.pth'), 'evil.pth'), "weights 'evil.pth'", "forbidden pickle GLOBAL 'os system' at byte 2");
    const posix = new Uint8Array([0x80, 0x02, ...P.global('posix', 'system'), ...P.str('id'), 0x85, 0x52, 0x2e]);
    expectThrow(() => unpickle(posix), "forbidden pickle GLOBAL 'posix system' at byte 2");
    // Protocol 4 spelling: STACK_GLOBAL with the names as strings.
    const p4 = new Uint8Array([0x80, 0x04, 0x8c, 8, ...te.encode('builtins'), 0x94, 0x8c, 4, ...te.encode('eval'), 0x94, 0x93, 0x2e]);
    expectThrow(() => unpickle(p4), "forbidden pickle GLOBAL 'builtins eval' at byte 20");
    // A torch global outside the list (not needed for a state_dict) is refused too.
    const q = P.stateDict([['w', [...P.global('torch._utils', '_rebuild_qtensor'), 0x29, 0x52]]]);
    expectThrow(() => readTorchFile(torchZip(q, {}), 'q.pth'), "forbidden pickle GLOBAL 'torch._utils _rebuild_qtensor'");
  });

  it('refuses unknown opcodes and broken pickle structure with the byte offset', () => {
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0xff])), 'unsupported pickle opcode 0xff at byte 2');
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0x49, 0x31, 0x0a, 0x2e])), "opcode 0x49 'I' at byte 2");
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0x4e])), 'no STOP opcode');
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0x2e])), 'ends with 0 values');
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0x68, 0x05, 0x2e])), 'memo key 5 was never stored');
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0x4e, 0x28, 0x85, 0x2e])), 'stack underflow');
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0xff, 0x41, 0x2e])), 'truncated pickle', 'BINUNICODE');
    const bomb = new Uint8Array([0x80, 0x02, 0x4e, ...new Array(100).fill(0x32), 0x2e]); // DUP × 100
    expectThrow(() => unpickle(bomb, { maxStack: 50 }), 'stack deeper than 50');
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, ...new Array(100).fill(0x28)]), { maxMarks: 10 }), 'MARKs nested deeper than 10');
    expectThrow(() => unpickle(new Uint8Array([0x80, 0x02, 0x4e, 0x51, 0x2e])), 'persistent id in a pickle that should have none');
    const sd = P.stateDict([['x', [0x4e, 0x51]]]);
    expectThrow(() => readTorchFile(torchZip(sd, {}), 'p.pth'), "weights 'p.pth'", 'not a tuple');
  });

  it('refuses compressed zip entries naming the entry', () => {
    expectThrow(() => readStateDict(load('bad_deflated.pth'), 'd.pth'), "weights 'd.pth'", "zip entry 'f32_convbn/data.pkl' is compressed (method 8)");
  });

  it('refuses big-endian files', () => {
    expectThrow(() => readStateDict(load('bad_big_endian.pth'), 'be.pth'), "byteorder entry says 'big'");
  });

  it('refuses views past the end of their storage, short storages and missing storages', () => {
    expectThrow(() => readStateDict(load('bad_view_out_of_range.pth'), 'v.pth'), "tensor 'too_far'", 'reaches element 6 of a 4-element storage');
    expectThrow(() => readStateDict(load('bad_short_storage.pth')), "zip entry 'archive/data/0' holds 16 bytes but storage '0' needs 36");
    const pkl = P.stateDict([['w', P.tensor(P.storage('7', 'FloatStorage', 2), 0, [2], [1])]]);
    expectThrow(() => readTorchFile(torchZip(pkl, {})), "storage '7' is missing: no zip entry 'archive/data/7'");
  });

  it('refuses huge declared sizes without allocating them', () => {
    const st = { '0': f32bytes([1, 2]) };
    const huge = P.stateDict([['w', P.tensor(P.storage('0', 'FloatStorage', 2), 0, [1 << 30, 1 << 30], [0, 0])]]);
    expectThrow(() => readTorchFile(torchZip(huge, st), 'h.pth'), "tensor 'w'", 'more than this file can plausibly hold');
    const bigStorage = P.stateDict([['w', P.tensor(P.storage('0', 'FloatStorage', 2 ** 31 - 1), 0, [2], [1])]]);
    expectThrow(() => readTorchFile(torchZip(bigStorage, st)), "holds 8 bytes but storage '0' needs 8589934588");
    const neg = P.stateDict([['w', P.tensor(P.storage('0', 'FloatStorage', 2), -1, [1], [1])]]);
    expectThrow(() => readTorchFile(torchZip(neg, st)), 'negative storage offset -1');
    const dims = P.stateDict([['w', P.tensor(P.storage('0', 'FloatStorage', 2), 0, [1, 2], [1])]]);
    expectThrow(() => readTorchFile(torchZip(dims, st)), 'has size [1,2] but stride [1]');
    const notTensor = P.stateDict([['w', P.int(3)]]);
    expectThrow(() => readTorchFile(torchZip(notTensor, st)), "state_dict key 'w' holds a number, not a tensor");

    // Legacy: a storage's element count overwritten with 2^64-1.
    const legacy = load('legacy.pth').slice();
    let at = 0;
    for (let i = 0; i < 5; i++) {
      at = unpickle(legacy, { start: at, persistentLoad: () => null, reduce: () => null }).end;
    }
    legacy.fill(0xff, at, at + 8);
    expectThrow(() => readStateDict(legacy, 'l.pth'), "weights 'l.pth'", 'elements but the pickle declared');
  });

  it('refuses bad zip structure: truncated, offsets out of range, huge counts', () => {
    const good = load('f32_convbn.pth');
    expectThrow(() => readStateDict(good.subarray(0, good.length >> 1), 't.pth'), "weights 't.pth'", 'no end-of-central-directory record');
    const z = torchZip(P.stateDict([]), {});
    const eocd = z.length - 22;
    const z64 = eocd - 20 - 56;
    const patch = (at: number, bytes: number[]) => {
      const c = z.slice();
      c.set(bytes, at);
      return c;
    };
    expectThrow(() => readZip(patch(z64 + 32, u64(2 ** 40))), 'entry count 1099511627776 exceeds');
    expectThrow(() => readZip(patch(z64 + 48, u64(2 ** 50))), 'runs past its end record');
    expectThrow(() => readZip(patch(z64 + 40, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), 'is too large');
    expectThrow(() => readZip(patch(eocd - 12, u64(1e9))), 'zip64 end record offset 1000000000 is out of range');
    // Local header offset of the first entry pointing past the entry area.
    const zip = readZip(z);
    const cd = zip.entries.length;
    expect(cd).toBe(2);
    const cdStart = z.length - 22 - 20 - 56 - (46 * 2 + 'archive/data.pkl'.length + 'archive/version'.length);
    expectThrow(() => readStateDict(patch(cdStart + 42, u32(1e6)), 'o.pth'), "zip local header of 'archive/data.pkl' at byte 1000000 is out of range");
    expectThrow(() => readStateDict(patch(cdStart + 20, u32(1e6)), 'o.pth'), "'archive/data.pkl' is stored but its sizes disagree");
    expectThrow(() => readStateDict(patch(cdStart + 20, [...u32(1e6), ...u32(1e6)]), 'o.pth'), "zip entry 'archive/data.pkl' (1000000 bytes", 'runs past');
    const noPkl = makeZip([['archive/version', te.encode('3\n')]]);
    expectThrow(() => readStateDict(noPkl, 'n.pth'), "no '<prefix>/data.pkl' entry");
  });

  it('refuses wrong magic and truncated legacy / safetensors files', () => {
    expectThrow(() => readStateDict(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), 'r.bin'), "weights 'r.bin': unknown format (first bytes 01 02 03");
    expectThrow(() => readStateDict(new Uint8Array(0), 'e.bin'), 'unknown format (first bytes none)');
    expectThrow(() => readTorchFile(load('mixed.safetensors'), 's'), 'not a torch.save file');
    const legacy = load('legacy.pth');
    for (const cut of [20, 100, 1000, legacy.length - 5]) {
      expectThrow(() => readStateDict(legacy.subarray(0, cut), 'l.pth'), "weights 'l.pth'", 'truncated');
    }
    const st = load('mixed.safetensors');
    expectThrow(() => readSafetensors(st.subarray(0, 5), 's'), 'truncated safetensors file');
    expectThrow(() => readSafetensors(st.subarray(0, 100), 's'), 'truncated safetensors file: header of');
    expectThrow(() => readSafetensors(st.subarray(0, st.length - 3), 's'), "data_offsets", 'lie outside');
  });

  it('refuses malformed safetensors headers', () => {
    const st = (header: unknown, data = new Uint8Array(8), rawHeader?: Uint8Array) => {
      const h = rawHeader ?? te.encode(JSON.stringify(header));
      return new Uint8Array([...u64(h.length), ...h, ...data]);
    };
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    expect(readSafetensors(st(ok)).get('a')!.data).toEqual(new Float32Array(2));
    expectThrow(() => readSafetensors(new Uint8Array([...u64(2 ** 40), 0x7b]), 's'), 'header length 1099511627776 exceeds');
    expectThrow(() => readSafetensors(st(null, undefined, te.encode('{"a":')), 's'), 'not valid UTF-8 JSON');
    expectThrow(() => readSafetensors(st([1, 2])), 'not a JSON object');
    expectThrow(() => readSafetensors(st({ a: { ...ok.a, data_offsets: [0, 16] } })), "'a' data_offsets [0, 16] lie outside the 8-byte data");
    expectThrow(() => readSafetensors(st({ a: { ...ok.a, data_offsets: [4, 0] } })), 'lie outside');
    expectThrow(() => readSafetensors(st({ a: { ...ok.a, shape: [3] } })), 'has 8 bytes but shape [3] of float32 needs 12');
    expectThrow(() => readSafetensors(st({ a: { ...ok.a, shape: [1e15, 1e15] } })), 'needs');
    expectThrow(() => readSafetensors(st({ a: { ...ok.a, shape: [-2] } })), 'not a non-negative integer');
    expectThrow(() => readSafetensors(st({ a: { ...ok.a, dtype: 'F8_E4M3' } })), 'unsupported dtype "F8_E4M3"');
    expectThrow(() => readSafetensors(st({ a: { ...ok.a, data_offsets: [0, 2 ** 60] } })), 'not a non-negative integer');
  });
});
