// Browser side: a GPUDevice through navigator.gpu. Same engine, no Node.
import { Gpu } from '../engine/gpu.ts';

export async function createWebGpu(options: GPURequestAdapterOptions = {}): Promise<Gpu> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome/Edge, or enable WebGPU');
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter: WebGPU is disabled or unsupported here');
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    label: 'preimage',
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 10),
    },
  });
  const info = adapter.info;
  return new Gpu(device, { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, backend: 'browser' });
}
