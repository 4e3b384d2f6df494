// torchvision AlexNet (the "one weird trick" variant torchvision ships), inference mode.
import { type Architecture, type LayerOps, convLabel, type ConvSpec } from './architecture.ts';

const CONVS: Record<number, ConvSpec> = {
  0: { in: 3, out: 64, kernel: 11, stride: 4, padding: 2, bias: true },
  3: { in: 64, out: 192, kernel: 5, padding: 2, bias: true },
  6: { in: 192, out: 384, kernel: 3, padding: 1, bias: true },
  8: { in: 384, out: 256, kernel: 3, padding: 1, bias: true },
  10: { in: 256, out: 256, kernel: 3, padding: 1, bias: true },
};
const POOL = { kernel: 3, stride: 2 };

export const alexnet: Architecture = {
  name: 'alexnet',
  forward<T>(ops: LayerOps<T>, input: T): T {
    let x = input;
    for (let i = 0; i <= 12; i++) {
      const name = `features.${i}`;
      if (CONVS[i]) { x = ops.conv(name, x, CONVS[i]); ops.tap(name, convLabel(CONVS[i]), x); }
      else if (i === 2 || i === 5 || i === 12) { x = ops.maxPool(name, x, POOL); ops.tap(name, 'MaxPool2d k3 s2', x); }
      else { x = ops.relu(name, x); ops.tap(name, 'ReLU', x); }
    }
    x = ops.adaptiveAvgPool('avgpool', x, 6);
    ops.tap('avgpool', 'AdaptiveAvgPool2d 6×6', x);
    x = ops.flatten('flatten', x);
    const linears: [number, number, number][] = [[1, 9216, 4096], [4, 4096, 4096], [6, 4096, 1000]];
    for (let i = 0; i <= 6; i++) {
      const name = `classifier.${i}`;
      const lin = linears.find((l) => l[0] === i);
      if (lin) { x = ops.linear(name, x, lin[1], lin[2]); ops.tap(name, `Linear ${lin[1]}→${lin[2]}`, x); }
      else if (i === 0 || i === 3) { x = ops.dropout(name, x); ops.tap(name, 'Dropout (identity in inference)', x); }
      else { x = ops.relu(name, x); ops.tap(name, 'ReLU', x); }
    }
    return x;
  },
  ambiguous: () => null,
};
