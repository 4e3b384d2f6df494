// A kernel is one WGSL program plus what the engine needs to bind and dispatch it. The
// bind group layout and the uniform struct packing are read from the WGSL itself
// (wgsl_reflect), so there is no second, hand-kept list of bindings to drift out of date.
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';

/** What a shader generator returns: the source and the key it is cached under. */
export interface KernelSource {
  /** Op name for errors and labels, e.g. `conv2d.forward.blocked`. */
  name: string;
  /** Everything baked into the WGSL text; equal keys must mean equal code. */
  key: string;
  code: string;
  /** Entry point (default `main`). */
  entry?: string;
}

export type BindingKind = 'uniform' | 'storage' | 'read-only-storage';

export interface UniformMember {
  name: string;
  offset: number;
  /** Scalar type of each component. */
  scalar: 'u32' | 'i32' | 'f32';
  components: number;
}

export interface ReflectedKernel {
  bindings: { name: string; binding: number; kind: BindingKind }[];
  /** The single uniform struct, if the kernel has one (bound by its variable name). */
  uniform: { name: string; size: number; members: UniformMember[] } | null;
}

function scalarOf(typeName: string, formatName: string | undefined): UniformMember['scalar'] {
  const t = formatName ?? typeName;
  if (t === 'u32' || t === 'i32' || t === 'f32') return t;
  throw new Error(`uniform member type '${typeName}<${formatName ?? ''}>' is not supported (use u32, i32, f32 or vecN of them)`);
}

export function reflectKernel(src: KernelSource): ReflectedKernel {
  let r: WgslReflect;
  try {
    r = new WgslReflect(src.code);
  } catch (e) {
    throw new Error(`kernel ${src.name}: wgsl_reflect could not parse the generated WGSL: ${(e as Error).message}`);
  }
  const bindings: ReflectedKernel['bindings'] = [];
  let uniform: ReflectedKernel['uniform'] = null;
  for (const u of r.uniforms) {
    if (u.group !== 0) throw new Error(`kernel ${src.name}: binding '${u.name}' is in group ${u.group}; only group 0 is used`);
    bindings.push({ name: u.name, binding: u.binding, kind: 'uniform' });
    if (uniform) throw new Error(`kernel ${src.name}: more than one uniform buffer ('${uniform.name}', '${u.name}')`);
    const members: UniformMember[] = ((u.type as unknown as { members?: unknown[] }).members ?? []).map((m: any) => {
      const tn: string = m.type.name;
      const comps = tn.startsWith('vec') ? Number(tn.slice(3, 4)) : 1;
      return { name: m.name, offset: m.offset, scalar: scalarOf(tn, m.type.format?.name), components: comps };
    });
    uniform = { name: u.name, size: Math.ceil(u.size / 16) * 16, members };
  }
  for (const s of r.storage) {
    if (s.group !== 0) throw new Error(`kernel ${src.name}: binding '${s.name}' is in group ${s.group}; only group 0 is used`);
    bindings.push({ name: s.name, binding: s.binding, kind: s.access === 'read' ? 'read-only-storage' : 'storage' });
  }
  bindings.sort((a, b) => a.binding - b.binding);
  return { bindings, uniform };
}

export type UniformValues = Record<string, number | readonly number[]>;

/** Packs uniform values into the struct layout wgsl_reflect reported. Missing or extra names are errors. */
export function packUniforms(kernelName: string, layout: NonNullable<ReflectedKernel['uniform']>, values: UniformValues): ArrayBuffer {
  const buf = new ArrayBuffer(layout.size);
  const view = new DataView(buf);
  const known = new Set(layout.members.map((m) => m.name));
  for (const k of Object.keys(values)) {
    if (!known.has(k)) throw new Error(`kernel ${kernelName}: uniform '${k}' is not a member of struct '${layout.name}'`);
  }
  for (const m of layout.members) {
    const v = values[m.name];
    if (v === undefined) throw new Error(`kernel ${kernelName}: uniform '${m.name}' was not given`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length !== m.components) throw new Error(`kernel ${kernelName}: uniform '${m.name}' needs ${m.components} values, got ${arr.length}`);
    arr.forEach((x, i) => {
      const off = m.offset + 4 * i;
      if (m.scalar === 'f32') view.setFloat32(off, x, true);
      else if (m.scalar === 'u32') {
        if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`kernel ${kernelName}: uniform '${m.name}' = ${x} is not a u32`);
        view.setUint32(off, x, true);
      } else {
        if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) throw new Error(`kernel ${kernelName}: uniform '${m.name}' = ${x} is not an i32`);
        view.setInt32(off, x, true);
      }
    });
  }
  return buf;
}
