// A tensor is a shape over an f32 GPU buffer. It does not own its buffer: whoever made it
// (a tape, a model's weights, a plan) releases it. Views (flatten) share their base's buffer.

export class Tensor {
  readonly shape: readonly number[];
  readonly buffer: GPUBuffer;
  readonly label: string;
  /** True when gradients should flow to this tensor (the image being inverted). */
  requiresGrad: boolean;
  /** Filled by the tape during backward when requiresGrad is set. */
  grad: Tensor | null = null;
  /** Derived read-only forms (e.g. a conv weight in the layout a blocked kernel wants). */
  readonly derived = new Map<string, Tensor>();

  constructor(shape: readonly number[], buffer: GPUBuffer, label: string, requiresGrad = false) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1) throw new Error(`tensor '${label}': invalid shape [${shape.join(', ')}]`);
    }
    this.shape = shape;
    this.buffer = buffer;
    this.label = label;
    this.requiresGrad = requiresGrad;
  }

  get size(): number { return numel(this.shape); }
  get bytes(): number { return this.size * 4; }
  get rank(): number { return this.shape.length; }
  toString(): string { return `${this.label}[${this.shape.join('×')}]`; }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function assertRank(op: string, t: Tensor, rank: number): void {
  if (t.rank !== rank) throw new Error(`${op}: input ${t.label} must have rank ${rank} (got shape ${shapeStr(t.shape)})`);
}
