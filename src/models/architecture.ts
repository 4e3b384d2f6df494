// A network is written once, as a function over an abstract set of layer operations. The
// same code then runs on shapes (tap listing, expected state_dict keys, no GPU) and on the
// engine (the real forward). Every named point calls `tap`; a forward asked to stop at a
// tap ends there, so nothing past the requested layer is computed.

export interface ConvSpec { in: number; out: number; kernel: number; stride?: number; padding?: number; bias: boolean }
export interface PoolSpec { kernel: number; stride: number; padding?: number; ceilMode?: boolean }

export interface LayerOps<T> {
  conv(name: string, x: T, spec: ConvSpec): T;
  batchNorm(name: string, x: T, channels: number): T;
  relu(name: string, x: T): T;
  maxPool(name: string, x: T, spec: PoolSpec): T;
  adaptiveAvgPool(name: string, x: T, size: number): T;
  linear(name: string, x: T, inFeatures: number, outFeatures: number): T;
  add(name: string, a: T, b: T): T;
  flatten(name: string, x: T): T;
  dropout(name: string, x: T): T;
  /** Marks a tap point; `op` describes it for listings (e.g. `Conv2d 3→64 k11 s4 p2`). */
  tap(name: string, op: string, x: T): void;
}

export interface Architecture {
  name: 'alexnet' | 'resnet50';
  forward<T>(ops: LayerOps<T>, x: T): T;
  /** Names that are not taps but are easy to type by mistake, with the explanation to give. */
  ambiguous(name: string): string | null;
}

/** Thrown by a runner to end the forward at the requested tap. */
export class StopAtTap<T> {
  constructor(readonly name: string, readonly value: T) {}
}

/** Runs a forward up to `tap` (or to the end when tap is null); returns the tap's value. */
export function runTo<T>(arch: Architecture, ops: LayerOps<T>, x: T, tap: string | null): T {
  const stopping: LayerOps<T> = Object.create(ops);
  stopping.tap = (name, op, v) => {
    ops.tap(name, op, v);
    if (name === tap) throw new StopAtTap(name, v);
  };
  try {
    const out = arch.forward(stopping, x);
    if (tap !== null) throw new Error(`${arch.name}: tap '${tap}' was never reached`);
    return out;
  } catch (e) {
    if (e instanceof StopAtTap) return e.value as T;
    throw e;
  }
}

export const convLabel = (s: ConvSpec) =>
  `Conv2d ${s.in}→${s.out} k${s.kernel} s${s.stride ?? 1} p${s.padding ?? 0}${s.bias ? '' : ' no-bias'}`;
