// torchvision ResNet50 ("v1.5": the stride sits on the 3×3 conv2 of a Bottleneck), inference mode.
// A Bottleneck has one `relu` module applied three times; its tap points are named
// `<block>.relu1` (after bn1), `<block>.relu2` (after bn2) and `<block>.relu3` (after the
// residual add, equal to the block output `<block>`).
import { type Architecture, type LayerOps, convLabel, type ConvSpec } from './architecture.ts';

const STAGES: { blocks: number; width: number; stride: number }[] = [
  { blocks: 3, width: 64, stride: 1 },
  { blocks: 4, width: 128, stride: 2 },
  { blocks: 6, width: 256, stride: 2 },
  { blocks: 3, width: 512, stride: 2 },
];
const EXPANSION = 4;

function convBn<T>(ops: LayerOps<T>, x: T, conv: string, bn: string, spec: ConvSpec): T {
  const y = ops.conv(conv, x, spec);
  ops.tap(conv, convLabel(spec), y);
  const z = ops.batchNorm(bn, y, spec.out);
  ops.tap(bn, `BatchNorm2d ${spec.out}`, z);
  return z;
}

function bottleneck<T>(ops: LayerOps<T>, x: T, name: string, inC: number, width: number, stride: number): T {
  const outC = width * EXPANSION;
  let y = convBn(ops, x, `${name}.conv1`, `${name}.bn1`, { in: inC, out: width, kernel: 1, bias: false });
  y = ops.relu(`${name}.relu1`, y);
  ops.tap(`${name}.relu1`, 'ReLU (relu, 1st application)', y);
  y = convBn(ops, y, `${name}.conv2`, `${name}.bn2`, { in: width, out: width, kernel: 3, stride, padding: 1, bias: false });
  y = ops.relu(`${name}.relu2`, y);
  ops.tap(`${name}.relu2`, 'ReLU (relu, 2nd application)', y);
  y = convBn(ops, y, `${name}.conv3`, `${name}.bn3`, { in: width, out: outC, kernel: 1, bias: false });
  let identity = x;
  if (stride !== 1 || inC !== outC) {
    identity = convBn(ops, x, `${name}.downsample.0`, `${name}.downsample.1`, { in: inC, out: outC, kernel: 1, stride, bias: false });
  }
  y = ops.add(`${name}.add`, y, identity);
  y = ops.relu(`${name}.relu3`, y);
  ops.tap(`${name}.relu3`, 'ReLU (relu, 3rd application, after the residual add)', y);
  ops.tap(name, `Bottleneck ${inC}→${outC}${stride > 1 ? ` s${stride}` : ''}`, y);
  return y;
}

export const resnet50: Architecture = {
  name: 'resnet50',
  forward<T>(ops: LayerOps<T>, input: T): T {
    let x = convBn(ops, input, 'conv1', 'bn1', { in: 3, out: 64, kernel: 7, stride: 2, padding: 3, bias: false });
    x = ops.relu('relu', x);
    ops.tap('relu', 'ReLU', x);
    x = ops.maxPool('maxpool', x, { kernel: 3, stride: 2, padding: 1 });
    ops.tap('maxpool', 'MaxPool2d k3 s2 p1', x);
    let channels = 64;
    STAGES.forEach((s, si) => {
      const stage = `layer${si + 1}`;
      for (let b = 0; b < s.blocks; b++) {
        x = bottleneck(ops, x, `${stage}.${b}`, channels, s.width, b === 0 ? s.stride : 1);
        channels = s.width * EXPANSION;
      }
      ops.tap(stage, `Sequential of ${s.blocks} Bottlenecks`, x);
    });
    x = ops.adaptiveAvgPool('avgpool', x, 1);
    ops.tap('avgpool', 'AdaptiveAvgPool2d 1×1', x);
    x = ops.flatten('flatten', x);
    x = ops.linear('fc', x, 2048, 1000);
    ops.tap('fc', 'Linear 2048→1000', x);
    return x;
  },
  ambiguous(name: string): string | null {
    const m = /^(layer[1-4]\.\d+)\.relu$/.exec(name);
    if (!m) return null;
    const b = m[1];
    return `'${name}' is ambiguous: a Bottleneck's relu module runs three times; name one of ${b}.relu1 (after bn1), ${b}.relu2 (after bn2) or ${b}.relu3 (after the residual add)`;
  },
};
