// Compare a loaded state_dict with the keys and shapes a model expects, and report
// every problem in one message so a user sees at once what kind of file they gave.

import type { StateDict } from './types.ts';

export interface CheckOptions {
  /** Keys that may be missing, or present though the model does not list them. */
  optional?: (key: string) => boolean;
  /** For the message: the file and the model. */
  fileName?: string;
  modelName?: string;
  /** How many names to list per category (default 5). */
  listMax?: number;
}

const shapeStr = (s: readonly number[]) => `[${s.join(',')}]`;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function checkStateDict(sd: StateDict, expected: Map<string, number[]>, opts: CheckOptions = {}): void {
  const optional = opts.optional ?? (() => false);
  const max = opts.listMax ?? 5;
  const missing: string[] = [];
  const unexpected: string[] = [];
  const misShaped: string[] = [];
  for (const [key, shape] of expected) {
    const t = sd.get(key);
    if (!t) {
      if (!optional(key)) missing.push(key);
    } else if (!sameShape(t.shape, shape)) {
      misShaped.push(`${key}: file ${shapeStr(t.shape)}, model ${shapeStr(shape)}`);
    }
  }
  for (const key of sd.keys()) if (!expected.has(key) && !optional(key)) unexpected.push(key);
  if (!missing.length && !unexpected.length && !misShaped.length) return;
  const part = (n: string[], label: string) => {
    if (!n.length) return null;
    const more = n.length > max ? `, … ${n.length - max} more` : '';
    return `${n.length} ${label} (${n.slice(0, max).join(', ')}${more})`;
  };
  const parts = [part(missing, 'missing'), part(unexpected, 'unexpected'), part(misShaped, 'mis-shaped')];
  throw new Error(
    `weights '${opts.fileName ?? 'weights'}' do not match ${opts.modelName ?? 'the model'}: ` +
      parts.filter((p) => p !== null).join(', '),
  );
}
