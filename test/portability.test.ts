// src/engine, src/shaders, src/models and src/invert must run unchanged in a browser: bundle
// them for the browser platform (any Node built-in fails to resolve) and scan for Node globals.
import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const PORTABLE = ['src/engine', 'src/shaders', 'src/models', 'src/invert'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('portable code', () => {
  it('bundles for the browser platform with no Node built-ins', async () => {
    const entries = PORTABLE.flatMap((d) => files(join(root, d)));
    expect(entries.length).toBeGreaterThan(10);
    const result = await build({
      entryPoints: entries, bundle: true, platform: 'browser', format: 'esm', write: false,
      outdir: '/tmp/preimage-browser-bundle', logLevel: 'silent', metafile: true,
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile!.inputs);
    expect(inputs.filter((i) => /^node:|node_modules\/(pngjs|jpeg-js|webgpu)\//.test(i))).toEqual([]);
  });

  it('uses no Node globals (process, Buffer, require, __dirname)', () => {
    const offenders: string[] = [];
    for (const f of PORTABLE.flatMap((d) => files(join(root, d)))) {
      const code = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const m of code.matchAll(/\b(process\.|Buffer\b|require\(|__dirname|__filename)/g)) offenders.push(`${f.slice(root.length + 1)}: ${m[0]}`);
    }
    expect(offenders).toEqual([]);
  });
});
