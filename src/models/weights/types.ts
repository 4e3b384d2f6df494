/** One tensor read from a weight file, always materialised as contiguous row-major f32. */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
  /** Source dtype in torch spelling, e.g. 'float16', 'int64' (values were converted to f32). */
  dtype: string;
}

/** Tensors by state_dict key, in file order. */
export type StateDict = Map<string, WeightTensor>;

/**
 * Run a reader and make sure whatever escapes is an Error naming the file. The format
 * modules throw plain Errors without the file name (they only see bytes); anything
 * else that escapes (a RangeError from a typed-array constructor, say) keeps its class
 * name in the message so a bug is still recognisable as one.
 */
export function withFileName<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const prefix = `weights '${name}': `;
    if (e instanceof Error && e.message.startsWith(prefix)) throw e;
    const what =
      e instanceof Error ? (e.constructor === Error ? e.message : `${e.name}: ${e.message}`) : String(e);
    throw new Error(`${prefix}${what}`, { cause: e });
  }
}
