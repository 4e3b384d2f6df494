// The engine's handle on a GPUDevice: pipeline cache, labelled buffers, a buffer pool,
// dispatch records and submission with error scopes. Portable: the device is handed in.
import { type KernelSource, type ReflectedKernel, type UniformValues, packUniforms, reflectKernel } from './kernel.ts';

export const WORKGROUP_1D = 256;

export interface CompiledKernel {
  source: KernelSource;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  reflected: ReflectedKernel;
}

/** One recorded compute dispatch. Bind groups and uniform buffers are made once, at record time. */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
}

/** A buffer-to-buffer copy recorded alongside dispatches (used for gradient hand-offs of views). */
export interface Copy {
  label: string;
  copy: { src: GPUBuffer; dst: GPUBuffer; bytes: number };
}

export type Command = Dispatch | Copy;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
}

/** Splits `count` invocations into a 2-D grid that respects maxComputeWorkgroupsPerDimension. */
export function grid1d(count: number, workgroupSize = WORKGROUP_1D, maxPerDim = 65535): [number, number, number] {
  const groups = Math.max(1, Math.ceil(count / workgroupSize));
  if (groups <= maxPerDim) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}

/** Dawn's messages span lines ("While calling …"); keep errors to one line. */
const oneLine = (m: string) => m.trim().replace(/\s*\n\s*(- )?/g, '; ');

export class Gpu {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  private readonly kernels = new Map<string, CompiledKernel>();
  private readonly pendingChecks: Promise<void>[] = [];
  private lostReason: string | null = null;
  private readonly pool = new Map<number, GPUBuffer[]>();
  /** One-off work (e.g. weight re-layouts) that must run before anything submitted next. */
  private setup: Command[] = [];
  /**
   * Kernel-selection profile. Variants are tuned per adapter: 'llvmpipe' (Mesa's CPU Vulkan
   * driver) gets the kernels measured fastest there; everything else gets variants that also
   * compile quickly on other compilers (SwiftShader never finishes the 16-pixel tiled kernel).
   */
  get profile(): 'llvmpipe' | 'generic' {
    return /llvmpipe/i.test(`${this.adapter.device} ${this.adapter.description}`) ? 'llvmpipe' : 'generic';
  }

  /** Pipelines compiled so far (the bench reports it; llvmpipe compiles at first dispatch). */
  get pipelineCount(): number { return this.kernels.size; }

  /**
   * Requests the device the engine needs from an adapter (the largest storage bindings it
   * offers) and wraps it. Shared by the Node (Dawn) and browser (navigator.gpu) entry points.
   */
  static async fromAdapter(adapter: GPUAdapter, backend: string): Promise<Gpu> {
    const limits = adapter.limits;
    const device = await adapter.requestDevice({
      label: 'preimage',
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 10),
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      },
    });
    device.addEventListener('uncapturederror', (e) => {
      // Errors outside our scopes are still reported with their labels rather than lost.
      console.error(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
    const info = adapter.info;
    return new Gpu(device, { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, backend });
  }

  constructor(device: GPUDevice, adapter: AdapterDescription) {
    this.device = device;
    this.adapter = adapter;
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lostReason = `${info.reason}: ${info.message}`;
      else this.lostReason = 'the device was destroyed';
    });
  }

  private assertAlive(what: string): void {
    if (this.lostReason) throw new Error(`GPU device lost (${this.lostReason}) before ${what}`);
  }

  /** Compiles (or fetches from the cache) the pipeline for a kernel source. */
  kernel(src: KernelSource): CompiledKernel {
    const cached = this.kernels.get(src.key);
    if (cached) {
      if (cached.source.code !== src.code) throw new Error(`kernel cache key '${src.key}' was reused for different WGSL (${src.name})`);
      return cached;
    }
    this.assertAlive(`compiling ${src.name}`);
    const reflected = reflectKernel(src);
    const device = this.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: src.name, code: src.code });
    const layout = device.createBindGroupLayout({
      label: `${src.name} layout`,
      entries: reflected.bindings.map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.kind } })),
    });
    const pipeline = device.createComputePipeline({
      label: src.name,
      layout: device.createPipelineLayout({ label: `${src.name} pipeline layout`, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: src.entry ?? 'main' },
    });
    const check = Promise.all([device.popErrorScope(), module.getCompilationInfo()]).then(([err, info]) => {
      const msgs = info.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}:${m.linePos} ${m.message}`);
      if (err || msgs.length) {
        throw new Error(`kernel ${src.name} (key ${src.key}) failed to compile: ${msgs.join('; ') || err?.message}`);
      }
    });
    check.catch(() => {}); // surfaced by checkErrors()
    this.pendingChecks.push(check);
    const k: CompiledKernel = { source: src, pipeline, layout, reflected };
    this.kernels.set(src.key, k);
    return k;
  }

  /** Throws the first shader/pipeline error recorded since the last call. */
  async checkErrors(): Promise<void> {
    const checks = this.pendingChecks.splice(0);
    await Promise.all(checks);
  }

  createBuffer(label: string, bytes: number, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
    this.assertAlive(`allocating ${label}`);
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (usage & GPUBufferUsage.STORAGE && bytes > limit) {
      throw new Error(`buffer '${label}' needs ${bytes} bytes, more than this adapter's maxStorageBufferBindingSize (${limit})`);
    }
    return this.device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
  }

  /** Storage buffer from the pool (size class = bytes rounded up to 256); label is updated. */
  acquire(label: string, bytes: number): GPUBuffer {
    const cls = Math.max(256, Math.ceil(bytes / 256) * 256);
    const free = this.pool.get(cls);
    const b = free?.pop();
    if (b) { b.label = label; return b; }
    return this.createBuffer(label, cls);
  }

  release(buffer: GPUBuffer): void {
    const list = this.pool.get(buffer.size) ?? [];
    list.push(buffer);
    this.pool.set(buffer.size, list);
  }

  upload(label: string, data: Float32Array | Uint32Array | Int32Array): GPUBuffer {
    const b = this.createBuffer(label, data.byteLength);
    this.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  }

  /** Records a dispatch: binds buffers by WGSL variable name and packs the uniform struct. */
  dispatch(src: KernelSource, label: string, buffers: Record<string, GPUBuffer>, uniforms: UniformValues, workgroups: readonly [number, number, number]): Dispatch {
    const k = this.kernel(src);
    const entries: GPUBindGroupEntry[] = [];
    const given = new Set(Object.keys(buffers));
    for (const b of k.reflected.bindings) {
      if (b.kind === 'uniform') {
        const layout = k.reflected.uniform!;
        const ub = this.createBuffer(`${label} uniforms`, layout.size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
        this.device.queue.writeBuffer(ub, 0, packUniforms(src.name, layout, uniforms));
        entries.push({ binding: b.binding, resource: { buffer: ub } });
      } else {
        const buf = buffers[b.name];
        if (!buf) throw new Error(`kernel ${src.name} (${label}): buffer '${b.name}' was not given`);
        given.delete(b.name);
        entries.push({ binding: b.binding, resource: { buffer: buf } });
      }
    }
    if (given.size) throw new Error(`kernel ${src.name} (${label}): unknown buffer name(s) ${[...given].join(', ')}`);
    if (!k.reflected.uniform && Object.keys(uniforms).length) throw new Error(`kernel ${src.name} has no uniform struct but uniforms were given`);
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (workgroups.some((w) => w > maxDim || w < 0 || !Number.isInteger(w))) {
      throw new Error(`kernel ${src.name} (${label}): workgroup count [${workgroups.join(', ')}] exceeds ${maxDim} per dimension`);
    }
    const bindGroup = this.device.createBindGroup({ label, layout: k.layout, entries });
    return { label, pipeline: k.pipeline, bindGroup, workgroups };
  }

  /** Queues one-off commands to run ahead of the next submitted work. */
  enqueueSetup(c: Command): void {
    this.setup.push(c);
  }

  /** Encodes and clears the queued one-off commands. */
  encodeSetup(encoder: GPUCommandEncoder): void {
    if (!this.setup.length) return;
    const s = this.setup;
    this.setup = [];
    this.encode(encoder, s);
  }

  /** Encodes commands into a command encoder; no submit. */
  encode(encoder: GPUCommandEncoder, commands: readonly Command[]): void {
    let pass: GPUComputePassEncoder | null = null;
    for (const c of commands) {
      if ('copy' in c) {
        if (pass) { pass.end(); pass = null; }
        encoder.copyBufferToBuffer(c.copy.src, 0, c.copy.dst, 0, c.copy.bytes);
        continue;
      }
      if (!pass) pass = encoder.beginComputePass();
      pass.setPipeline(c.pipeline);
      pass.setBindGroup(0, c.bindGroup);
      pass.dispatchWorkgroups(c.workgroups[0], c.workgroups[1], c.workgroups[2]);
    }
    if (pass) pass.end();
  }

  /** Submits command buffers inside validation and out-of-memory error scopes and waits for the queue. */
  async submit(buffers: GPUCommandBuffer[], what: string): Promise<void> {
    this.assertAlive(what);
    await this.checkErrors();
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    d.queue.submit(buffers);
    const [val, oom] = [await d.popErrorScope(), await d.popErrorScope()];
    await d.queue.onSubmittedWorkDone();
    if (val) throw new Error(`GPU validation error while running ${what}: ${oneLine(val.message)}`);
    if (oom) throw new Error(`GPU out of memory while running ${what}: ${oneLine(oom.message)}`);
    this.assertAlive(`finishing ${what}`);
  }

  async run(commands: readonly Command[], what: string): Promise<void> {
    if (!commands.length && !this.setup.length) return;
    const enc = this.device.createCommandEncoder({ label: what });
    this.encodeSetup(enc);
    this.encode(enc, commands);
    await this.submit([enc.finish()], what);
  }

  /** Copies a buffer region back to the CPU. */
  async readBuffer(buffer: GPUBuffer, bytes: number, what: string): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ label: `readback ${what}`, size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder({ label: `readback ${what}` });
    this.encodeSetup(enc);
    enc.copyBufferToBuffer(buffer, 0, staging, 0, Math.ceil(bytes / 4) * 4);
    await this.submit([enc.finish()], `readback of ${what}`);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  destroy(): void {
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    this.kernels.clear();
    this.device.destroy();
  }
}
