// Failing loudly: no adapter, shader errors, bad bindings, validation errors and a lost
// device each become one error naming the op (and shapes where there are any).
import { describe, expect, it } from 'vitest';
import { createNodeGpu } from '../src/node/device.ts';
import { Tape } from '../src/engine/tape.ts';
import { conv2d } from '../src/engine/ops/conv2d.ts';
import { relu } from '../src/engine/ops/elementwise.ts';
import { testGpu } from './helpers.ts';

describe('engine errors', () => {
  it('no adapter: says what to install', async () => {
    const fake = { requestAdapter: async () => null } as unknown as GPU;
    await expect(createNodeGpu({ gpu: fake })).rejects.toThrow(/no WebGPU adapter found.*lavapipe.*bookworm-backports/);
  });

  it('refuses an adapter that looks like Dawn\'s null backend', async () => {
    const fake = { requestAdapter: async () => ({ info: { vendor: 'null', architecture: '', device: 'Null backend', description: '' }, limits: {} }) } as unknown as GPU;
    await expect(createNodeGpu({ gpu: fake })).rejects.toThrow(/null backend/);
  });

  it('a shader that does not compile names the kernel and its key', async () => {
    const gpu = await testGpu();
    gpu.kernel({ name: 'broken.kernel', key: 'broken.kernel.v1', code: '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n@compute @workgroup_size(1) fn main() { a[0] = undefined_thing; }' });
    await expect(gpu.checkErrors()).rejects.toThrow(/kernel broken\.kernel \(key broken\.kernel\.v1\) failed to compile/);
  });

  it('missing and unknown buffer names are caught at record time', async () => {
    const gpu = await testGpu();
    const tape = new Tape(gpu);
    const x = tape.constant([4], new Float32Array(4), 'x');
    const src = { name: 'needs.two', key: 'needs.two', code: '@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(1) var<storage, read_write> b: array<f32>;\n@compute @workgroup_size(1) fn main() { b[0] = a[0]; }' };
    expect(() => gpu.dispatch(src, 'copy op [4]', { a: x.buffer }, {}, [1, 1, 1])).toThrow(/needs\.two \(copy op \[4\]\): buffer 'b' was not given/);
    expect(() => gpu.dispatch(src, 'copy op [4]', { a: x.buffer, b: tape.tensor([4], 'y').buffer, c: x.buffer }, {}, [1, 1, 1])).toThrow(/unknown buffer name\(s\) c/);
    tape.dispose();
  });

  it('shape errors name the op and the shapes', async () => {
    const gpu = await testGpu();
    const tape = new Tape(gpu);
    const x = tape.constant([1, 3, 8, 8], new Float32Array(192), 'image');
    const w = tape.constant([4, 5, 3, 3], new Float32Array(180), 'w');
    expect(() => conv2d(tape, x, w, null, { label: 'features.0' })).toThrow(/features\.0: input has 3 channels but the weight \[4, 5, 3, 3\] expects 5/);
    tape.dispose();
  });

  it('a GPU validation error surfaces with the labels of what was running', async () => {
    const gpu = await testGpu();
    const tape = new Tape(gpu, { label: 'validation probe' });
    const x = tape.constant([1, 2, 3, 4], new Float32Array(24), 'x');
    relu(tape, x, 'probe.relu');
    // Destroying a buffer the recorded dispatch uses makes the submit invalid.
    x.buffer.destroy();
    await expect(tape.run()).rejects.toThrow(/^GPU validation error while running validation probe: \[Buffer "x"\] used in submit while destroyed\.; While calling/);
  });

  it('a lost device is reported before the next op runs', async () => {
    const gpu = await createNodeGpu();
    const tape = new Tape(gpu);
    const x = tape.constant([4], new Float32Array(4), 'x');
    relu(tape, x, 'after.loss');
    gpu.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await expect(tape.run()).rejects.toThrow(/GPU device lost/);
  });
});
