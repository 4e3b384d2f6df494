// A deliberately small unpickler: only the opcodes torch.save emits for a state_dict,
// only allow-listed GLOBALs, and hard bounds on everything, so a hostile file can at
// worst be refused. Nothing is ever "called": REDUCE on an allowed global goes to a
// hook that builds plain data.

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** dict / OrderedDict; `attrs` holds what a BUILD set on it (torch's `_metadata`). */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
  attrs: PyValue = null;
}

export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module} ${this.name}`;
  }
}

/** Python values as this unpickler represents them. Hooks may return their own objects. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | { readonly [key: string]: unknown };

/** Storage classes torch pickles by reference, keyed by `torch <Name>`. */
export const TORCH_STORAGE_GLOBALS: ReadonlySet<string> = new Set(
  ['Float', 'Half', 'BFloat16', 'Double', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map(
    (t) => `torch ${t}Storage`,
  ),
);

/** Everything a torch state_dict pickle legitimately refers to. */
export const TORCH_ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'collections OrderedDict',
  'torch._utils _rebuild_tensor_v2',
  'torch._utils _rebuild_parameter',
  ...TORCH_STORAGE_GLOBALS,
]);

export interface UnpickleOptions {
  /** Byte offset to start at (legacy torch files hold several pickles back to back). */
  start?: number;
  /** `module name` strings that GLOBAL may name; default TORCH_ALLOWED_GLOBALS. */
  allowedGlobals?: ReadonlySet<string>;
  /** BINPERSID: turn a persistent id into a value. Without it, BINPERSID is refused. */
  persistentLoad?: (pid: PyValue, at: number) => PyValue;
  /**
   * REDUCE on an allowed global other than collections.OrderedDict (built in).
   * Without it, such a REDUCE is refused.
   */
  reduce?: (fn: PyGlobal, args: PyTuple, at: number) => PyValue;
  /** Bounds; defaults suit any real state_dict. */
  maxMemo?: number;
  maxStack?: number;
  maxMarks?: number;
}

export interface UnpickleResult {
  value: PyValue;
  /** Offset just past the STOP opcode. */
  end: number;
}

const OP_NAMES: Record<number, string> = {
  0x80: 'PROTO', 0x95: 'FRAME', 0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x68: 'BINGET', 0x6a: 'LONG_BINGET', 0x94: 'MEMOIZE', 0x28: 'MARK', 0x29: 'EMPTY_TUPLE', 0x74: 'TUPLE',
  0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x5d: 'EMPTY_LIST', 0x61: 'APPEND', 0x65: 'APPENDS',
  0x6c: 'LIST', 0x7d: 'EMPTY_DICT', 0x64: 'DICT', 0x73: 'SETITEM', 0x75: 'SETITEMS', 0x58: 'BINUNICODE',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4d: 'BININT2',
  0x8a: 'LONG1', 0x8b: 'LONG4', 0x47: 'BINFLOAT', 0x4e: 'NONE', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x62: 'BUILD', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x2e: 'STOP',
};

function opLabel(op: number): string {
  const ch = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
  return `0x${op.toString(16).padStart(2, '0')}${ch}`;
}

export function opcodeName(op: number): string | undefined {
  return OP_NAMES[op];
}

/** Longest LONG4 we decode: far more than any int in a state_dict, small enough to stay cheap. */
const MAX_LONG_BYTES = 64;
/** GLOBAL lines are module and attribute names. */
const MAX_GLOBAL_LINE = 256;

function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  const allowed = opts.allowedGlobals ?? TORCH_ALLOWED_GLOBALS;
  const maxMemo = opts.maxMemo ?? 1 << 20;
  const maxStack = opts.maxStack ?? 1 << 20;
  const maxMarks = opts.maxMarks ?? 1 << 16;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');
  const len = bytes.length;

  let pos = opts.start ?? 0;
  if (!(pos >= 0 && pos <= len)) throw new Error(`pickle start ${pos} is outside the ${len}-byte buffer`);
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let opAt = pos;

  const fail = (msg: string): never => {
    throw new Error(`${msg} (pickle opcode ${opLabel(bytes[opAt])} at byte ${opAt})`);
  };
  const need = (n: number, what: string) => {
    if (n < 0 || pos + n > len) fail(`truncated pickle: ${what} needs ${n} bytes, ${len - pos} left`);
  };
  const u8 = () => {
    need(1, 'argument');
    return bytes[pos++];
  };
  const u16 = () => {
    need(2, 'argument');
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4, 'argument');
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4, 'argument');
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8, 'argument');
    const lo = view.getUint32(pos, true);
    const hi = view.getUint32(pos + 4, true);
    pos += 8;
    // A length this large cannot fit in the remaining bytes; keep it finite for the check.
    return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + lo;
  };
  const take = (n: number, what: string) => {
    need(n, what);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (what: string): string => {
    const end = Math.min(len, pos + MAX_GLOBAL_LINE + 1);
    for (let i = pos; i < end; i++) {
      if (bytes[i] === 0x0a) {
        const s = latin1.decode(bytes.subarray(pos, i));
        pos = i + 1;
        return s;
      }
    }
    return fail(`GLOBAL ${what} is not a newline-terminated name of at most ${MAX_GLOBAL_LINE} bytes`);
  };

  const floor = () => (marks.length ? marks[marks.length - 1] : 0);
  const push = (v: PyValue) => {
    if (stack.length >= maxStack) fail(`pickle stack deeper than ${maxStack}`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length <= floor()) fail('pickle stack underflow');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length <= floor()) fail('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    if (!marks.length) fail('pickle MARK missing');
    const m = marks.pop() as number;
    return stack.splice(m);
  };
  const put = (idx: number) => {
    if (!memo.has(idx) && memo.size >= maxMemo) fail(`pickle memo larger than ${maxMemo} entries`);
    memo.set(idx, top());
  };
  const get = (idx: number) => {
    if (!memo.has(idx)) fail(`pickle memo key ${idx} was never stored`);
    push(memo.get(idx) as PyValue);
  };
  const hashKey = (k: PyValue): PyValue => {
    // Only immutable values make sensible keys; tuples compare by identity here, which is
    // enough for state_dicts (their keys are strings).
    if (k instanceof PyDict || Array.isArray(k)) fail('unhashable dict key (dict or list)');
    return k;
  };
  const setItems = (d: PyValue, items: PyValue[]) => {
    if (!(d instanceof PyDict)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (d as PyDict).map.set(hashKey(items[i]), items[i + 1]);
  };
  const appendItems = (l: PyValue, items: PyValue[]) => {
    if (!Array.isArray(l)) fail('APPEND(S) on something that is not a list');
    for (const it of items) (l as PyValue[]).push(it);
  };
  const global = (module: string, name: string) => {
    const q = `${module} ${name}`;
    if (!allowed.has(q)) {
      throw new Error(`forbidden pickle GLOBAL '${q}' at byte ${opAt}`);
    }
    push(new PyGlobal(module, name));
  };

  // Every opcode consumes at least one byte, so the loop runs at most len times; the
  // only per-op work beyond O(1) is proportional to items already pushed.
  for (;;) {
    opAt = pos;
    if (pos >= len) throw new Error(`truncated pickle: no STOP opcode before byte ${len}`);
    const op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol');
        break;
      case 0x95: { // FRAME: framing is only a read-ahead hint
        const n = u64();
        if (n > len - pos) fail(`pickle FRAME of ${n} bytes exceeds the ${len - pos} bytes left`);
        break;
      }
      case 0x63: { // GLOBAL
        const module = line('module');
        global(module, line('name'));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        global(module as string, name as string);
        break;
      }
      case 0x71: put(u8()); break; // BINPUT
      case 0x72: put(u32()); break; // LONG_BINPUT
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x28: // MARK
        if (marks.length >= maxMarks) fail(`pickle MARKs nested deeper than ${maxMarks}`);
        marks.push(stack.length);
        break;
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x64: { const items = popMark(); const d = new PyDict(); setItems(d, items); push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x58: push(utf8.decode(take(u32(), 'BINUNICODE string'))); break;
      case 0x8c: push(utf8.decode(take(u8(), 'SHORT_BINUNICODE string'))); break;
      case 0x8d: push(utf8.decode(take(u64(), 'BINUNICODE8 string'))); break;
      case 0x54: { // BINSTRING: Python 2 str; length is signed
        const n = i32();
        if (n < 0) fail('BINSTRING with a negative length');
        push(latin1.decode(take(n, 'BINSTRING string')));
        break;
      }
      case 0x55: push(latin1.decode(take(u8(), 'SHORT_BINSTRING string'))); break;
      case 0x42: push(take(u32(), 'BINBYTES data').slice()); break;
      case 0x43: push(take(u8(), 'SHORT_BINBYTES data').slice()); break;
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(decodeLong(take(u8(), 'LONG1 value'))); break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0 || n > MAX_LONG_BYTES) fail(`LONG4 of ${n} bytes (at most ${MAX_LONG_BYTES} supported)`);
        push(decodeLong(take(n, 'LONG4 value')));
        break;
      }
      case 0x47: { // BINFLOAT: big-endian double
        need(8, 'BINFLOAT value');
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent id in a pickle that should have none');
        push(opts.persistentLoad!(pid, opAt));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) fail('REDUCE on something that is not an allowed global');
        if (!(args instanceof PyTuple)) fail('REDUCE arguments are not a tuple');
        const g = fn as PyGlobal;
        const a = args as PyTuple;
        if (g.qualified === 'collections OrderedDict') {
          const d = new PyDict();
          if (a.items.length > 1) fail('OrderedDict() with more than one argument');
          if (a.items.length === 1) {
            const init = a.items[0];
            if (!Array.isArray(init)) fail('OrderedDict() argument is not a list of pairs');
            for (const pair of init as PyValue[]) {
              if (!(pair instanceof PyTuple) || pair.items.length !== 2) fail('OrderedDict() item is not a pair');
              d.map.set(hashKey((pair as PyTuple).items[0]), (pair as PyTuple).items[1]);
            }
          }
          push(d);
        } else if (opts.reduce) {
          push(opts.reduce(g, a, opAt));
        } else {
          fail(`REDUCE of '${g.qualified}' is not supported here`);
        }
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.attrs = state;
        // Tensors rebuilt by a hook carry no state worth keeping; anything else is unexpected.
        else if (obj === null || typeof obj !== 'object' || obj instanceof PyGlobal || Array.isArray(obj)) {
          fail('BUILD on an object that takes no state');
        }
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x2e: { // STOP
        if (marks.length) fail('pickle ends inside a MARK');
        if (stack.length !== 1) fail(`pickle ends with ${stack.length} values on the stack, expected 1`);
        return { value: stack[0], end: pos };
      }
      default:
        throw new Error(
          `unsupported pickle opcode ${opLabel(op)}${OP_NAMES[op] ? ` (${OP_NAMES[op]})` : ''} at byte ${opAt}`,
        );
    }
  }
}
