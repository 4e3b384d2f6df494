import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mulberry32 } from '../src/engine/random.ts';
import { readStateDict } from '../src/models/weights/index.ts';
import { unpickle } from '../src/models/weights/pickle.ts';
import { readZip } from '../src/models/weights/zip.ts';

// Seeded mutation fuzzing of the valid fixtures: every mutated file must either parse
// into a sane StateDict or be refused with an Error that names the file. Replay a
// failure with WEIGHTS_FUZZ_SEED=<seed printed below>.

const DIR = join(import.meta.dirname, 'fixtures', 'weights');
const FILES = [
  'f32_convbn.pth',
  'f32_convbn_no_nbt.pth',
  'f16_bf16.pth',
  'f64.pth',
  'ints_bool.pth',
  'views.pth',
  'shared_storage.pth',
  'legacy.pth',
  'mixed.safetensors',
];
// 400 × 9 = 3,600 cases; WEIGHTS_FUZZ_CASES raises it for a longer soak.
const CASES_PER_FILE = Number(process.env.WEIGHTS_FUZZ_CASES ?? 400);


const SEED = Number(process.env.WEIGHTS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** Values that tend to break length and offset fields. */
const NASTY = [0xffffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0x10000, 0xffff, 0, 1, 0x40000000];

function mutate(src: Uint8Array, rnd: () => number): { bytes: Uint8Array; what: string } {
  const int = (n: number) => Math.floor(rnd() * n);
  // Length fields cluster at both ends (zip end records, pickle/safetensors headers).
  const pos = () => {
    const r = rnd();
    if (r < 0.3) return src.length - 1 - int(Math.min(src.length, 200));
    if (r < 0.5) return int(Math.min(src.length, 64));
    return int(src.length);
  };
  const b = src.slice();
  switch (int(6)) {
    case 0: {
      const n = 1 + int(4);
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = pos();
        b[p] ^= 1 << int(8);
        at.push(p);
      }
      return { bytes: b, what: `bit flips at ${at}` };
    }
    case 1: {
      const n = int(src.length);
      return { bytes: src.slice(0, n), what: `truncated to ${n}` };
    }
    case 2: {
      const p = pos();
      const ins = new Uint8Array(1 + int(16)).map(() => int(256));
      const out = new Uint8Array(src.length + ins.length);
      out.set(src.subarray(0, p));
      out.set(ins, p);
      out.set(src.subarray(p), p + ins.length);
      return { bytes: out, what: `${ins.length} bytes inserted at ${p}` };
    }
    case 3: {
      const p = pos();
      const n = 1 + int(32);
      const out = new Uint8Array(src.length - Math.min(n, src.length - p));
      out.set(src.subarray(0, p));
      out.set(src.subarray(p + n), p);
      return { bytes: out, what: `${n} bytes deleted at ${p}` };
    }
    case 4: {
      // Overwrite an aligned 2/4/8-byte field with a huge or degenerate value.
      const width = [2, 4, 8][int(3)];
      const p = Math.max(0, Math.min(src.length - width, pos() & ~1));
      const v = NASTY[int(NASTY.length)];
      const dv = new DataView(b.buffer);
      if (width === 2) dv.setUint16(p, v & 0xffff, true);
      else if (width === 4) dv.setUint32(p, v >>> 0, true);
      else {
        dv.setUint32(p, v >>> 0, true);
        dv.setUint32(p + 4, rnd() < 0.5 ? 0 : v >>> 0, true);
      }
      return { bytes: b, what: `${width}-byte field at ${p} set to 0x${v.toString(16)}` };
    }
    default: {
      const p = pos();
      const n = 1 + int(64);
      for (let i = p; i < Math.min(b.length, p + n); i++) b[i] = int(256);
      return { bytes: b, what: `${n} random bytes at ${p}` };
    }
  }
}

it(`mutated weight files parse or fail with a named Error (seed ${SEED})`, () => {
  console.log(`weights fuzz seed: ${SEED} (set WEIGHTS_FUZZ_SEED to replay)`);
  const rnd = mulberry32(SEED);
  let parsed = 0;
  let refused = 0;
  let slowest = 0;
  const started = performance.now();
  for (const file of FILES) {
    const src = new Uint8Array(readFileSync(join(DIR, file)));
    for (let c = 0; c < CASES_PER_FILE; c++) {
      const { bytes, what } = mutate(src, rnd);
      const name = `fuzz-${c}-${file}`;
      const ctx = `seed ${SEED}, ${file} case ${c}: ${what}`;
      const t0 = performance.now();
      try {
        const sd = readStateDict(bytes, name);
        for (const [k, t] of sd) {
          const n = t.shape.reduce((a, s) => a * s, 1);
          if (!(t.data instanceof Float32Array) || t.data.length !== n) {
            throw new Error(`${ctx}: '${k}' has ${t.data.length} values for shape [${t.shape}]`);
          }
        }
        parsed++;
      } catch (e) {
        if (!(e instanceof Error) || e.constructor !== Error) {
          throw new Error(`${ctx}: threw a non-plain error ${String(e)}`);
        }
        if (!e.message.includes(`weights '${name}'`)) throw new Error(`${ctx}: message lacks the file name: ${e.message}`);
        // A wrapped RangeError/TypeError means a check is missing somewhere.
        if (/\b(RangeError|TypeError|SyntaxError|ReferenceError)\b/.test(e.message)) {
          throw new Error(`${ctx}: an unchecked exception escaped: ${e.message}`);
        }
        refused++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
  }
  const total = performance.now() - started;
  console.log(
    `weights fuzz: ${parsed + refused} cases, ${parsed} parsed, ${refused} refused, ` +
      `${total.toFixed(0)} ms total, slowest ${slowest.toFixed(1)} ms`,
  );
  expect(parsed + refused).toBeGreaterThanOrEqual(1000);
  expect(refused).toBeGreaterThan(0);
  expect(slowest).toBeLessThan(1000); // ms per case: generous for a loaded 2-core CI box
  expect(total / (parsed + refused)).toBeLessThan(4); // ms on average: 3,600 cases in < 15 s
});

it(`mutated torch pickles unpickle or fail with a plain Error (seed ${SEED})`, () => {
  // Straight at the unpickler, so insertions and deletions inside data.pkl are not
  // masked by the zip layer noticing shifted offsets first.
  const rnd = mulberry32(SEED ^ 0x9e3779b9);
  const pkls = ['f32_convbn.pth', 'views.pth', 'ints_bool.pth'].map((f) => {
    const zip = readZip(new Uint8Array(readFileSync(join(DIR, f))));
    return zip.data(zip.entries.find((e) => e.name.endsWith('/data.pkl'))!);
  });
  let cases = 0;
  for (const pkl of pkls) {
    for (let c = 0; c < CASES_PER_FILE; c++, cases++) {
      const { bytes, what } = mutate(pkl, rnd);
      try {
        unpickle(bytes, { persistentLoad: () => null, reduce: () => null });
      } catch (e) {
        if (!(e instanceof Error) || e.constructor !== Error) {
          throw new Error(`seed ${SEED}, pickle case ${c}: ${what}: threw ${String(e)}`);
        }
      }
    }
  }
  expect(cases).toBe(3 * CASES_PER_FILE);
});
