// Ops benchmark: every kernel at the AlexNet and ResNet50 shapes (batch 1, 224×224).
// Prints ms per dispatch, GFLOP/s (compute-bound) or GB/s (memory-bound) and, separately,
// the first-dispatch time (llvmpipe compiles a pipeline at its first dispatch), then writes
// the table with the adapter's description to bench/results/ops-<adapter>.json.
//   npx tsx bench/ops.ts [--filter conv] [--quick]
import { parseArgs } from 'node:util';
import { createNodeGpu, describeAdapter } from '../src/node/device.ts';
import { timeCommands, writeResults } from './common.ts';
import type { Command, Gpu } from '../src/engine/gpu.ts';
import { Tape } from '../src/engine/tape.ts';
import type { Tensor } from '../src/engine/tensor.ts';
import { conv2d } from '../src/engine/ops/conv2d.ts';
import { batchNorm2d } from '../src/engine/ops/batchnorm.ts';
import { relu, seedGradient } from '../src/engine/ops/elementwise.ts';
import { adaptiveAvgPool2d, maxPool2d } from '../src/engine/ops/pool.ts';
import { linear } from '../src/engine/ops/linear.ts';
import { featureTarget, objective } from '../src/engine/ops/losses.ts';
import { SgdState, sgdStep } from '../src/engine/ops/optimizer.ts';

const { values: args } = parseArgs({ options: { filter: { type: 'string' }, quick: { type: 'boolean' } } });

interface Row {
  op: string; shape: string; pass: 'forward' | 'backward' | 'fused';
  ms: number; firstDispatchMs: number; gflops?: number; gbps?: number;
}

function noise(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = s / 2 ** 31 - 1; }
  return a;
}

const time = (gpu: Gpu, cmds: Command[], label: string) => timeCommands(gpu, cmds, label, args.quick ? 2 : 5);

interface Case {
  op: string; shape: string;
  /** Builds forward (and backward) on the tape; returns the op's output and its FLOPs / bytes. */
  build: (tape: Tape) => { y: Tensor; x: Tensor | null; flops?: number; bytesFwd?: number; bytesBwd?: number };
  backward?: boolean;
}

const convCase = (name: string, N: number, C: number, H: number, OC: number, K: number, S: number, P: number): Case => ({
  op: `conv2d ${name}`, shape: `${C}→${OC} k${K} s${S} p${P} @${H}`, backward: true,
  build: (tape) => {
    const x = tape.constant([N, C, H, H], noise(N * C * H * H, 1), 'x', true);
    const w = tape.constant([OC, C, K, K], noise(OC * C * K * K, 2).map((v) => v * 0.05), 'w');
    const y = conv2d(tape, x, w, tape.constant([OC], noise(OC, 3), 'b'), { stride: S, padding: P, label: name });
    return { y, x, flops: 2 * y.size * C * K * K };
  },
});

const cases: Case[] = [
  convCase('alexnet.features.0', 1, 3, 224, 64, 11, 4, 2),
  convCase('alexnet.features.3', 1, 64, 27, 192, 5, 1, 2),
  convCase('alexnet.features.6', 1, 192, 13, 384, 3, 1, 1),
  convCase('alexnet.features.8', 1, 384, 13, 256, 3, 1, 1),
  convCase('alexnet.features.10', 1, 256, 13, 256, 3, 1, 1),
  convCase('resnet50.conv1', 1, 3, 224, 64, 7, 2, 3),
  convCase('resnet50.layer1.0.conv1', 1, 64, 56, 64, 1, 1, 0),
  convCase('resnet50.layer1.0.conv2', 1, 64, 56, 64, 3, 1, 1),
  convCase('resnet50.layer1.0.conv3', 1, 64, 56, 256, 1, 1, 0),
  convCase('resnet50.layer2.0.conv2', 1, 128, 56, 128, 3, 2, 1),
  convCase('resnet50.layer2.1.conv1', 1, 512, 28, 128, 1, 1, 0),
  convCase('resnet50.layer3.1.conv2', 1, 256, 14, 256, 3, 1, 1),
  convCase('resnet50.layer4.1.conv2', 1, 512, 7, 512, 3, 1, 1),
  convCase('resnet50.layer4.0.downsample.0', 1, 1024, 14, 2048, 1, 2, 0),
  {
    op: 'conv2d naive alexnet.features.3', shape: '64→192 k5 s1 p2 @27', backward: true,
    build: (tape) => {
      const x = tape.constant([1, 64, 27, 27], noise(64 * 729, 1), 'x', true);
      const w = tape.constant([192, 64, 5, 5], noise(192 * 64 * 25, 2), 'w');
      const y = conv2d(tape, x, w, null, { padding: 2, variant: 'naive' });
      return { y, x, flops: 2 * y.size * 64 * 25 };
    },
  },
  ...[[64, 112], [256, 56], [512, 28], [2048, 7]].map(([C, H]): Case => ({
    op: 'batchnorm2d', shape: `${C}@${H}`, backward: true,
    build: (tape) => {
      const x = tape.constant([1, C, H, H], noise(C * H * H, 1), 'x', true);
      const p = (s: number) => tape.constant([C], noise(C, s).map((v) => 1 + 0.5 * v), `p${s}`);
      const y = batchNorm2d(tape, x, { gamma: p(1), beta: p(2), runningMean: p(3), runningVar: p(4) });
      return { y, x, bytesFwd: 8 * x.size, bytesBwd: 8 * x.size };
    },
  })),
  ...[[64, 55], [64, 112], [256, 56]].map(([C, H]): Case => ({
    op: 'relu', shape: `${C}@${H}`, backward: true,
    build: (tape) => {
      const x = tape.constant([1, C, H, H], noise(C * H * H, 1), 'x', true);
      return { y: relu(tape, x), x, bytesFwd: 8 * x.size, bytesBwd: 12 * x.size };
    },
  })),
  ...([[64, 55, 0], [192, 27, 0], [256, 13, 0], [64, 112, 1]] as const).map(([C, H, P]): Case => ({
    op: 'maxpool2d k3 s2', shape: `${C}@${H} p${P}`, backward: true,
    build: (tape) => {
      const x = tape.constant([1, C, H, H], noise(C * H * H, 1), 'x', true);
      const y = maxPool2d(tape, x, { kernel: 3, stride: 2, padding: P });
      return { y, x, bytesFwd: 4 * x.size + 8 * y.size, bytesBwd: 4 * x.size + 8 * y.size };
    },
  })),
  ...([[256, 6, 6], [2048, 7, 1]] as const).map(([C, H, O]): Case => ({
    op: 'adaptive_avg_pool2d', shape: `${C}@${H}→${O}`, backward: true,
    build: (tape) => {
      const x = tape.constant([1, C, H, H], noise(C * H * H, 1), 'x', true);
      const y = adaptiveAvgPool2d(tape, x, O);
      return { y, x, bytesFwd: 4 * (x.size + y.size), bytesBwd: 4 * (x.size + y.size) };
    },
  })),
  ...([[9216, 4096], [4096, 4096], [4096, 1000], [2048, 1000]] as const).map(([I, O]): Case => ({
    op: 'linear', shape: `${I}→${O}`, backward: true,
    build: (tape) => {
      const x = tape.constant([1, I], noise(I, 1), 'x', true);
      // Row chunks under 64 MiB, as the models load AlexNet's classifier.1.
      const rowsPer = Math.max(1, Math.floor((64 << 20) / (4 * I)));
      const chunks = [];
      for (let o = 0; o < O; o += rowsPer) chunks.push(tape.constant([Math.min(rowsPer, O - o), I], noise(Math.min(rowsPer, O - o) * I, 2 + o), `w${o}`));
      const y = linear(tape, x, { chunks, bias: null });
      return { y, x, flops: 2 * I * O, bytesFwd: 4 * I * O, bytesBwd: 4 * I * O };
    },
  })),
];

async function lossRows(gpu: Gpu, rows: Row[]): Promise<void> {
  const shape = [1, 3, 224, 224];
  const n = 3 * 224 * 224;
  const terms = [
    { name: 'alpha_norm α=6 (value+grad)', make: (x: Tensor) => ({ kind: 'alpha_norm' as const, x, alpha: 6, weight: 1e-5 }) },
    { name: 'pixel_alpha_norm α=6 (value+grad)', make: (x: Tensor) => ({ kind: 'pixel_alpha_norm' as const, x, alpha: 6, weight: 1e-5 }) },
    { name: 'total_variation β=2 (value+grad)', make: (x: Tensor) => ({ kind: 'total_variation' as const, x, beta: 2, weight: 1e-5 }) },
  ];
  for (const t of terms) {
    const tape = new Tape(gpu, { label: t.name });
    const x = tape.constant(shape, noise(n, 5), 'x', true);
    const start = tape.commands.length;
    objective(tape, [t.make(x)]);
    const r = await time(gpu, tape.commands.slice(start), t.name);
    rows.push({ op: t.name, shape: '3@224', pass: 'fused', ms: r.ms, firstDispatchMs: r.first, gbps: (8 * n) / r.ms / 1e6 });
    tape.dispose();
  }
  for (const [C, H] of [[192, 13], [256, 56], [512, 28]]) {
    const tape = new Tape(gpu, { label: 'feature distance' });
    const f = tape.constant([1, C, H, H], noise(C * H * H, 1), 'f', true);
    const target = featureTarget(tape, tape.constant([1, C, H, H], noise(C * H * H, 2), 't'));
    const start = tape.commands.length;
    objective(tape, [{ kind: 'feature_distance', features: f, target, weight: 1 }]);
    const r = await time(gpu, tape.commands.slice(start), 'feature distance');
    rows.push({ op: 'feature_distance (value+grad)', shape: `${C}@${H}`, pass: 'fused', ms: r.ms, firstDispatchMs: r.first, gbps: (12 * f.size) / r.ms / 1e6 });
    target.normSq.destroy();
    tape.dispose();
  }
  const tape = new Tape(gpu, { label: 'sgd' });
  const x = tape.constant(shape, noise(n, 5), 'x', true);
  objective(tape, [{ kind: 'alpha_norm', x, alpha: 2, weight: 1 }]);
  const state = new SgdState(tape, x, { schedule: [{ until: 100, lr: 100 }, { until: 200, lr: 10 }], momentum: 0.9 });
  const start = tape.commands.length;
  sgdStep(tape, x, state);
  const r = await time(gpu, tape.commands.slice(start), 'sgd');
  rows.push({ op: 'sgd momentum update', shape: '3@224', pass: 'fused', ms: r.ms, firstDispatchMs: r.first, gbps: (16 * n) / r.ms / 1e6 });
  state.destroy();
  tape.dispose();
}

async function main(): Promise<void> {
  const gpu = await createNodeGpu();
  const adapter = describeAdapter(gpu);
  console.log(`adapter: ${adapter}`);
  const rows: Row[] = [];
  const fmt = (r: Row) => {
    const perf = r.gflops !== undefined ? `${r.gflops.toFixed(2).padStart(7)} GFLOP/s` : `${(r.gbps ?? 0).toFixed(2).padStart(7)} GB/s    `;
    return `${r.op.padEnd(40)} ${r.shape.padEnd(22)} ${r.pass.padEnd(8)} ${r.ms.toFixed(3).padStart(9)} ms  ${perf}  first ${r.firstDispatchMs.toFixed(1)} ms`;
  };
  console.log(`${'op'.padEnd(40)} ${'shape'.padEnd(22)} ${'pass'.padEnd(8)} ${'time'.padStart(12)}  ${'throughput'.padStart(15)}`);
  for (const c of cases) {
    if (args.filter && !`${c.op} ${c.shape}`.includes(args.filter)) continue;
    const tape = new Tape(gpu, { label: c.op });
    const setupEnd = tape.commands.length;
    const b = c.build(tape);
    const fwdEnd = tape.commands.length;
    const fwd = await time(gpu, tape.commands.slice(setupEnd, fwdEnd), `${c.op} forward`);
    const push = (pass: 'forward' | 'backward', t: { ms: number; first: number }, bytes?: number) => {
      const row: Row = { op: c.op, shape: c.shape, pass, ms: t.ms, firstDispatchMs: t.first };
      if (b.flops) row.gflops = b.flops / t.ms / 1e6;
      else if (bytes) row.gbps = bytes / t.ms / 1e6;
      rows.push(row);
      console.log(fmt(row));
    };
    push('forward', fwd, b.bytesFwd);
    if (c.backward && b.x) {
      seedGradient(tape, b.y, tape.constant(b.y.shape, noise(b.y.size, 9), 'gy'));
      const seedEnd = tape.commands.length;
      tape.backward();
      await gpu.run(tape.commands.slice(fwdEnd, seedEnd), 'seed');
      push('backward', await time(gpu, tape.commands.slice(seedEnd), `${c.op} backward`), b.bytesBwd);
    }
    tape.dispose();
  }
  if (!args.filter || 'loss sgd'.includes(args.filter)) {
    const before = rows.length;
    await lossRows(gpu, rows);
    for (const r of rows.slice(before)) console.log(fmt(r));
  }
  console.log(`wrote ${writeResults(args.filter || args.quick ? 'ops-partial' : 'ops', gpu, { pipelines: gpu.pipelineCount, filter: args.filter ?? null, quick: !!args.quick, rows })}`);
  gpu.destroy();
}

await main();
