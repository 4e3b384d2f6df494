// Element-wise ops and views: relu, add (residual), flatten, dropout (identity in inference).
import { WORKGROUP_1D, grid1d } from '../gpu.ts';
import { ELEMENTWISE_ITEMS } from '../../shaders/common.ts';
import type { Tape } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { RELU, accumulateGradient, addForward, pointwiseBackward, pointwiseForward } from '../../shaders/pointwise.ts';

/** Adds (or copies) `source` into the gradient of `into`. */
const grid = (count: number) => grid1d(count, WORKGROUP_1D * ELEMENTWISE_ITEMS);

export function passGradient(tape: Tape, source: Tensor, into: Tensor, label: string): void {
  const g = tape.gradOf(into);
  tape.push(tape.gpu.dispatch(accumulateGradient(), label, { src: source.buffer, dst: g.tensor.buffer },
    { count: into.size, accumulate: g.accumulate }, grid(into.size)));
}

export function relu(tape: Tape, x: Tensor, label = 'relu'): Tensor {
  const y = tape.tensor(x.shape, label, x.requiresGrad);
  tape.push(tape.gpu.dispatch(pointwiseForward(RELU), `${label} forward ${shapeStr(x.shape)}`,
    { input: x.buffer, output: y.buffer }, { count: x.size }, grid(x.size)));
  tape.record({
    name: label, inputs: [x], output: y,
    backward: (t) => {
      const g = t.gradOf(x);
      t.push(t.gpu.dispatch(pointwiseBackward(RELU), `${label} backward ${shapeStr(x.shape)}`,
        { input: x.buffer, gradOutput: y.grad!.buffer, gradInput: g.tensor.buffer },
        { count: x.size, accumulate: g.accumulate }, grid(x.size)));
    },
  });
  return y;
}

export function add(tape: Tape, a: Tensor, b: Tensor, label = 'add'): Tensor {
  if (shapeStr(a.shape) !== shapeStr(b.shape)) {
    throw new Error(`${label}: shapes differ, ${a} and ${b}`);
  }
  const y = tape.tensor(a.shape, label, a.requiresGrad || b.requiresGrad);
  tape.push(tape.gpu.dispatch(addForward(), `${label} forward ${shapeStr(a.shape)}`,
    { a: a.buffer, b: b.buffer, output: y.buffer }, { count: a.size }, grid(a.size)));
  tape.record({
    name: label, inputs: [a, b], output: y,
    backward: (t) => {
      if (a.requiresGrad) passGradient(t, y.grad!, a, `${label} backward a`);
      if (b.requiresGrad) passGradient(t, y.grad!, b, `${label} backward b`);
    },
  });
  return y;
}

/** torch.flatten(x, startDim): a view over the same buffer. */
export function flatten(tape: Tape, x: Tensor, startDim = 1, label = 'flatten'): Tensor {
  if (startDim < 0 || startDim >= x.rank) throw new Error(`${label}: start dim ${startDim} out of range for ${x}`);
  const shape = [...x.shape.slice(0, startDim), x.shape.slice(startDim).reduce((p, d) => p * d, 1)];
  const y = new Tensor(shape, x.buffer, label, x.requiresGrad);
  tape.record({
    name: label, inputs: [x], output: y,
    backward: (t) => passGradient(t, y.grad!, x, `${label} backward`),
  });
  return y;
}

/** Dropout in inference mode is the identity; kept as an op so taps and names line up with torchvision. */
export function dropout(_tape: Tape, x: Tensor): Tensor {
  return x;
}

/** Starts backward from an arbitrary upstream gradient (tests; vector-Jacobian products). */
export function seedGradient(tape: Tape, y: Tensor, gy: Tensor): void {
  if (gy.size !== y.size) throw new Error(`seedGradient: ${gy} does not match ${y}`);
  passGradient(tape, gy, y, `seed gradient of ${y.label}`);
}
