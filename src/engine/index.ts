// The engine's public surface (portable: runs in browsers and on Node; hand it a GPUDevice).
export { Gpu, grid1d, type AdapterDescription, type Command, type Dispatch } from './gpu.ts';
export { Tensor, numel } from './tensor.ts';
export { Tape, type TapeOptions } from './tape.ts';
export { Plan, type Readback, type RunOptions } from './plan.ts';
export { conv2d, conv2dGeometry, type Conv2dParams } from './ops/conv2d.ts';
export { batchNorm2d, type BatchNormParams } from './ops/batchnorm.ts';
export { add, dropout, flatten, relu, seedGradient } from './ops/elementwise.ts';
export { adaptiveAvgPool2d, maxPool2d, poolOutputSize, type MaxPoolParams } from './ops/pool.ts';
export { linear, type LinearWeight } from './ops/linear.ts';
export { featureTarget, objective, readObjective, type FeatureTarget, type LossTerm, type Objective } from './ops/losses.ts';
export { SgdState, sgdStep, type MomentumStyle, type SgdSettings } from './ops/optimizer.ts';
