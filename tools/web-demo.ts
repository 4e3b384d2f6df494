// Serves the browser demo: bundles examples/web/demo.ts for the browser (esbuild) and serves
// it with the page and the sample image on 127.0.0.1.   npm run demo:web [-- --port 8080]
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');

/** Bundles the demo and starts serving it; resolves with the server and its URL. */
export async function serveWebDemo(port = 0): Promise<{ server: Server; url: string }> {
  const out = await build({
    entryPoints: [join(root, 'examples', 'web', 'demo.ts')], bundle: true, platform: 'browser', format: 'esm',
    write: false, outfile: 'demo.js', logLevel: 'silent', sourcemap: 'inline',
  });
  const files: Record<string, [string, Uint8Array]> = {
    '/': ['text/html', readFileSync(join(root, 'examples', 'web', 'index.html'))],
    '/demo.js': ['text/javascript', out.outputFiles[0].contents],
    '/chelsea.png': ['image/png', readFileSync(join(root, 'examples', 'chelsea.png'))],
  };
  const server = createServer((req, res) => {
    const f = files[(req.url ?? '/').split('?')[0]];
    if (!f) { res.writeHead(404).end('not found'); return; }
    res.writeHead(200, { 'content-type': f[0] }).end(f[1]);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' } } });
  const { url } = await serveWebDemo(Number(values.port));
  console.log(`preimage web demo at ${url} (a browser with WebGPU: Chrome/Edge 113+; Ctrl-C to stop)`);
}
