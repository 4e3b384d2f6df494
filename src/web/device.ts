// Browser side: a GPUDevice through navigator.gpu. Same engine, no Node.
import { Gpu } from '../engine/gpu.ts';

export async function createWebGpu(options: GPURequestAdapterOptions = {}): Promise<Gpu> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome/Edge, or enable WebGPU');
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter: WebGPU is disabled or unsupported here');
  return Gpu.fromAdapter(adapter, 'browser');
}
