// Node side: a GPUDevice through Dawn (npm `webgpu`). Refuses Dawn's null backend, which
// accepts work and computes nothing.
import { create, globals } from 'webgpu';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gpu } from '../engine/gpu.ts';

let dawn: GPU | null = null;

const INSTALL_HINT = 'no WebGPU adapter found: on Debian 12 without a GPU install Mesa\'s lavapipe from bookworm-backports (run `bash scripts/setup-webgpu.sh`, see README); a real GPU needs its Vulkan driver';

/** Options for tests: a GPU object to use instead of Dawn's (e.g. one that has no adapter). */
export interface NodeGpuOptions { gpu?: GPU }

export async function createNodeGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  // Mesa warns on every start when XDG_RUNTIME_DIR is unset.
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `xdg-runtime-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  Object.assign(globalThis, globals);
  let gpu = opts.gpu;
  if (!gpu) gpu = dawn ??= create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(INSTALL_HINT);
  const info = adapter.info;
  if (/null/i.test(`${info.vendor} ${info.device} ${info.description}`) || (info as unknown as { backendType?: string }).backendType === 'null') {
    throw new Error(`${INSTALL_HINT} (only Dawn's null backend is available, which computes nothing)`);
  }
  return Gpu.fromAdapter(adapter, 'dawn');
}

export function describeAdapter(gpu: Gpu): string {
  const a = gpu.adapter;
  return [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ');
}
