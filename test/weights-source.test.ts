import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_WEIGHTS_URL_BASE,
  hashPrefixInName,
  WEIGHTS_CATALOG,
  weightsEntry,
  weightsVariants,
  type WeightsFile,
} from '../src/models/weights/catalog.ts';
import {
  defaultProjectWeightsDir,
  defaultTorchHome,
  resolveWeights,
  torchCheckpointsDir,
  verifyCachedWeights,
  type DownloadProgress,
} from '../src/node/weights-source.ts';

// Fake weight files: random bytes, odd sizes, fresh every run.
function fakeFile(name = `fake-${randomBytes(4).toString('hex')}.pth`): { entry: WeightsFile; data: Buffer } {
  const data = randomBytes(50_001 + Math.floor(Math.random() * 40_000));
  return { entry: { file: name, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length }, data };
}

let tmp: string;
let torchHome: string;
let projectDir: string;
let cacheDir: string;
const servers: http.Server[] = [];
const sockets = new Set<Socket>();

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'preimage-weights-'));
  torchHome = join(tmp, 'torch');
  projectDir = join(tmp, 'project-weights');
  cacheDir = torchCheckpointsDir(torchHome);
  mkdirSync(projectDir, { recursive: true });
});

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((done) => {
          s.closeAllConnections();
          s.close(() => done());
        }),
    ),
  );
  rmSync(tmp, { recursive: true, force: true });
});

/** A 127.0.0.1 server on a random port; returns its base URL. */
async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** A port that was just free: listen, note it, close. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((done) => s.listen(0, '127.0.0.1', done));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((done) => s.close(() => done()));
  return port;
}

/** Sends `data` in 4 KiB pieces so the client sees several chunks. */
function sendInPieces(res: http.ServerResponse, data: Buffer, upTo = data.length): void {
  let off = 0;
  const step = () => {
    while (off < upTo) {
      const end = Math.min(off + 4096, upTo);
      const ok = res.write(data.subarray(off, end));
      off = end;
      if (!ok) {
        res.once('drain', step);
        return;
      }
    }
    if (upTo === data.length) res.end();
  };
  step();
}

const listing = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

const base = () => ({ torchHome, projectWeightsDir: projectDir, env: {} as NodeJS.ProcessEnv, timeoutMs: 5_000 });

describe('catalog', () => {
  it('has the three torchvision files with full hashes matching their name prefixes', () => {
    expect(WEIGHTS_CATALOG.map((e) => e.file)).toEqual([
      'alexnet-owt-7be5be79.pth',
      'resnet50-0676ba61.pth',
      'resnet50-11ad3fa6.pth',
    ]);
    for (const e of WEIGHTS_CATALOG) {
      expect(e.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(e.sha256.startsWith(hashPrefixInName(e.file)!)).toBe(true);
    }
    expect(DEFAULT_WEIGHTS_URL_BASE).toBe('https://download.pytorch.org/models/');
  });

  it('looks up entries; resnet50 defaults to V1; unknown variants are named', () => {
    expect(weightsEntry('alexnet').bytes).toBe(244_408_911);
    expect(weightsEntry('resnet50').file).toBe('resnet50-0676ba61.pth');
    expect(weightsEntry('resnet50', 'IMAGENET1K_V1').bytes).toBe(102_530_333);
    expect(weightsEntry('resnet50', 'imagenet1k_v2').file).toBe('resnet50-11ad3fa6.pth');
    expect(weightsEntry('resnet50', 'IMAGENET1K_V2').bytes).toBe(102_540_417);
    expect(weightsVariants('resnet50')).toEqual(['IMAGENET1K_V1', 'IMAGENET1K_V2']);
    expect(() => weightsEntry('alexnet', 'IMAGENET1K_V2')).toThrow(/unknown weights variant 'IMAGENET1K_V2' for alexnet \(known: IMAGENET1K_V1\)/);
    expect(() => weightsEntry('vgg' as 'alexnet')).toThrow(/no torchvision weights known for model 'vgg'/);
  });
});

describe('default locations', () => {
  it('follows torch.hub: TORCH_HOME, else XDG_CACHE_HOME/torch, else ~/.cache/torch', () => {
    expect(defaultTorchHome({ TORCH_HOME: '/a/th', XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/a/th');
    expect(defaultTorchHome({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/torch');
    expect(defaultTorchHome({ HOME: '/h' })).toBe('/h/.cache/torch');
    expect(defaultTorchHome({ TORCH_HOME: '', XDG_CACHE_HOME: '', HOME: '/h' })).toBe('/h/.cache/torch');
    expect(torchCheckpointsDir('/h/.cache/torch')).toBe('/h/.cache/torch/hub/checkpoints');
  });

  it('finds the repo weights/ folder', () => {
    expect(defaultProjectWeightsDir()).toBe(join(process.cwd(), 'weights'));
  });

  it('uses env TORCH_HOME when no torchHome option is given', async () => {
    const { entry, data } = fakeFile();
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(join(cacheDir, entry.file), data);
    const r = await resolveWeights({ model: 'resnet50', entry, projectWeightsDir: projectDir, env: { TORCH_HOME: torchHome }, download: false });
    expect(r).toEqual({ path: join(cacheDir, entry.file), source: 'torch-cache', entry });
  });
});

describe('resolution order', () => {
  it('explicit beats cache beats project beats download', async () => {
    const { entry, data } = fakeFile();
    let requests = 0;
    const url = await serve((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-length': data.length });
      res.end(data);
    });
    const explicit = join(tmp, 'mine.pth');
    writeFileSync(explicit, 'explicit');
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(join(cacheDir, entry.file), 'cache');
    writeFileSync(join(projectDir, entry.file), 'project');
    const opts = { ...base(), model: 'resnet50' as const, entry, urlBase: url, onProgress: () => undefined };

    expect(await resolveWeights({ ...opts, weights: explicit })).toMatchObject({ path: explicit, source: 'explicit' });
    expect(await resolveWeights(opts)).toMatchObject({ path: join(cacheDir, entry.file), source: 'torch-cache' });
    rmSync(join(cacheDir, entry.file));
    expect(await resolveWeights(opts)).toMatchObject({ path: join(projectDir, entry.file), source: 'project' });
    rmSync(join(projectDir, entry.file));
    expect(requests).toBe(0);
    const r = await resolveWeights(opts);
    expect(r).toMatchObject({ path: join(cacheDir, entry.file), source: 'download' });
    expect(requests).toBe(1);
    // Once downloaded it comes from the cache, with no second request.
    expect(await resolveWeights(opts)).toMatchObject({ source: 'torch-cache' });
    expect(requests).toBe(1);
  });

  it('uses the catalog entry for the model and variant', async () => {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(join(cacheDir, 'resnet50-11ad3fa6.pth'), 'x');
    writeFileSync(join(projectDir, 'alexnet-owt-7be5be79.pth'), 'x');
    const v2 = await resolveWeights({ ...base(), model: 'resnet50', variant: 'IMAGENET1K_V2', download: false });
    expect(v2.source).toBe('torch-cache');
    expect(v2.entry.sha256).toBe('11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca');
    const a = await resolveWeights({ ...base(), model: 'alexnet', download: false });
    expect(a).toMatchObject({ source: 'project', path: join(projectDir, 'alexnet-owt-7be5be79.pth') });
  });

  it('a missing explicit path is an error naming it, even when the cache has the file', async () => {
    const { entry, data } = fakeFile();
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(join(cacheDir, entry.file), data);
    const missing = join(tmp, 'nope', 'weights.pth');
    await expect(resolveWeights({ ...base(), model: 'alexnet', entry, weights: missing })).rejects.toThrow(
      `weights file ${missing} does not exist`,
    );
    await expect(resolveWeights({ ...base(), model: 'alexnet', entry, weights: tmp })).rejects.toThrow(
      `weights path ${tmp} is not a file`,
    );
  });

  it('with download off and no local copy, says where to put the file', async () => {
    const err = await resolveWeights({ ...base(), model: 'resnet50', download: false }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain('no weights for resnet50');
    expect(msg).toContain(`put resnet50-0676ba61.pth in ${cacheDir}/`);
    expect(msg).toContain(`${projectDir}/`);
    expect(msg).toContain('--weights PATH');
    expect(msg).toContain('--weights random');
    expect(msg).not.toContain('\n');
  });
});

describe('download', () => {
  const noNewFiles = () => {
    expect(listing(cacheDir)).toEqual([]);
    expect(listing(projectDir)).toEqual([]);
  };

  it('streams, verifies and renames into the torch cache, reporting progress', async () => {
    const { entry, data } = fakeFile();
    const paths: (string | undefined)[] = [];
    const url = await serve((req, res) => {
      paths.push(req.url);
      res.writeHead(200, { 'content-length': data.length });
      // Four paced pieces so the client usually sees several reads (the kernel may merge them).
      const q = Math.ceil(data.length / 4);
      let i = 0;
      const next = () => {
        res.write(data.subarray(i * q, (i + 1) * q));
        if (++i < 4) setTimeout(next, 10);
        else res.end();
      };
      next();
    });
    const seen: DownloadProgress[] = [];
    const r = await resolveWeights({ ...base(), model: 'resnet50', entry, urlBase: `${url}mirror`, onProgress: (p) => seen.push(p) });
    expect(r).toEqual({ path: join(cacheDir, entry.file), source: 'download', entry });
    expect(paths).toEqual([`/mirror/${entry.file}`]); // slash added to a base without one
    expect(readFileSync(r.path).equals(data)).toBe(true); // exact bytes
    expect(listing(cacheDir)).toEqual([entry.file]); // no partial left
    expect(seen.length).toBeGreaterThanOrEqual(2); // the 0-byte start, then one per read
    expect(seen[0]).toMatchObject({ received: 0, total: data.length, file: entry.file, url: `${url}mirror/${entry.file}` });
    expect(seen.at(-1)!.received).toBe(data.length);
    for (let i = 1; i < seen.length; i++) expect(seen[i].received).toBeGreaterThanOrEqual(seen[i - 1].received);
  });

  it('takes the URL base from PREIMAGE_WEIGHTS_URL and follows redirects', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((req, res) => {
      if (req.url === `/a/${entry.file}`) {
        res.writeHead(302, { location: `/b/${entry.file}` });
        res.end();
      } else if (req.url === `/b/${entry.file}`) {
        res.writeHead(301, { location: `${url}c/${entry.file}` });
        res.end();
      } else {
        res.writeHead(200, { 'content-length': data.length });
        res.end(data);
      }
    });
    const r = await resolveWeights({ ...base(), env: { PREIMAGE_WEIGHTS_URL: `${url}a/` }, model: 'alexnet', entry, onProgress: () => undefined });
    expect(r.source).toBe('download');
    expect(readFileSync(r.path).equals(data)).toBe(true);
  });

  it('gives up after 5 redirects, saving nothing', async () => {
    const { entry } = fakeFile();
    let hits = 0;
    const url = await serve((_req, res) => {
      hits++;
      res.writeHead(302, { location: `/loop${hits}/${entry.file}` });
      res.end();
    });
    await expect(resolveWeights({ ...base(), model: 'alexnet', entry, urlBase: url, onProgress: () => undefined })).rejects.toThrow(
      /failed: more than 5 redirects .*; nothing was saved$/,
    );
    expect(hits).toBe(6); // first request + 5 redirects
    noNewFiles();
  });

  it('a wrong sha256 leaves no file and names the URL', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': data.length });
      sendInPieces(res, data);
    });
    const bad = { ...entry, sha256: createHash('sha256').update('something else').digest('hex') };
    const err = (await resolveWeights({ ...base(), model: 'resnet50', entry: bad, urlBase: url, onProgress: () => undefined }).catch((e) => e)) as Error;
    expect(err.message).toMatch(new RegExp(`^download of ${url}${entry.file} failed: sha256 mismatch \\(got ${entry.sha256.slice(0, 12)}…, expected ${bad.sha256.slice(0, 12)}…\\); nothing was saved$`));
    noNewFiles();
  });

  it('a connection cut halfway leaves no file', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': data.length });
      res.write(data.subarray(0, data.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const err = (await resolveWeights({ ...base(), model: 'resnet50', entry, urlBase: url, onProgress: () => undefined }).catch((e) => e)) as Error;
    expect(err.message).toMatch(new RegExp(`^download of ${url}${entry.file} failed: connection broke after \\d+ of ${data.length} bytes.*; nothing was saved$`));
    noNewFiles();
  });

  it('a cut chunked response (no Content-Length) leaves no file', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((_req, res) => {
      res.writeHead(200);
      res.write(data.subarray(0, 10_000), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    await expect(resolveWeights({ ...base(), model: 'resnet50', entry, urlBase: url, onProgress: () => undefined })).rejects.toThrow(
      /failed: connection broke after \d+ of \d+ bytes.*; nothing was saved$/,
    );
    noNewFiles();
  });

  it('a response that ends cleanly but short leaves no file', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((_req, res) => {
      // HTTP/1.0-style body delimited by close: no length, no chunking.
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
      res.writeHead(200, { connection: 'close' });
      res.end(data.subarray(0, 1234));
    });
    await expect(resolveWeights({ ...base(), model: 'resnet50', entry, urlBase: url, onProgress: () => undefined })).rejects.toThrow(
      new RegExp(`failed: (got 1234 bytes, expected ${data.length}|connection broke after 1234 of ${data.length} bytes).*; nothing was saved$`),
    );
    noNewFiles();
  });

  it('a wrong Content-Length is refused before writing', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': data.length + 1 });
      res.end(Buffer.concat([data, Buffer.from([0])]));
    });
    await expect(resolveWeights({ ...base(), model: 'resnet50', entry, urlBase: url, onProgress: () => undefined })).rejects.toThrow(
      `failed: server announces ${data.length + 1} bytes, expected ${data.length}; nothing was saved`,
    );
    noNewFiles();
  });

  it('an HTTP 404 leaves no file', async () => {
    const { entry } = fakeFile();
    const url = await serve((_req, res) => {
      res.writeHead(404, 'Not Found', { 'content-type': 'text/plain' });
      res.end('no such file');
    });
    await expect(resolveWeights({ ...base(), model: 'alexnet', entry, urlBase: url, onProgress: () => undefined })).rejects.toThrow(
      `download of ${url}${entry.file} failed: HTTP 404 Not Found; nothing was saved`,
    );
    noNewFiles();
  });

  it('a server that stalls mid-body times out and leaves no file', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': data.length });
      res.write(data.subarray(0, 5000)); // then nothing; afterEach destroys the socket
    });
    const t0 = Date.now();
    await expect(
      resolveWeights({ ...base(), timeoutMs: 300, model: 'alexnet', entry, urlBase: url, onProgress: () => undefined }),
    ).rejects.toThrow(`download of ${url}${entry.file} failed: no data for 0.3 s; nothing was saved`);
    expect(Date.now() - t0).toBeLessThan(4000); // bounded: the 300 ms idle timer, with slack for a busy machine
    noNewFiles();
  });

  it('a server that never answers times out with the where-to-put-it hint', async () => {
    const { entry } = fakeFile();
    const url = await serve(() => undefined); // accepts, never responds
    await expect(
      resolveWeights({ ...base(), timeoutMs: 300, model: 'alexnet', entry, urlBase: url, onProgress: () => undefined }),
    ).rejects.toThrow(/^no weights for alexnet: could not reach .* \(timed out after 0\.3 s without a response\); put .* --weights random$/);
    noNewFiles();
  });

  it('offline (connection refused) names the file and every place it may go', async () => {
    const port = await closedPort();
    const err = (await resolveWeights({ ...base(), model: 'resnet50', urlBase: `http://127.0.0.1:${port}/models/` }).catch((e) => e)) as Error;
    const msg = err.message;
    expect(msg).toContain('no weights for resnet50');
    expect(msg).toContain(`http://127.0.0.1:${port}/models/resnet50-0676ba61.pth (ECONNREFUSED)`);
    expect(msg).toContain(`put resnet50-0676ba61.pth in ${cacheDir}/ (or ${projectDir}/)`);
    expect(msg).toContain('--weights PATH');
    expect(msg).toContain('--weights random');
    expect(msg).not.toContain('\n');
    noNewFiles();
  });

  it('shortens the home folder to ~ in the hint', async () => {
    const port = await closedPort();
    const err = (await resolveWeights({ model: 'resnet50', projectWeightsDir: projectDir, env: { HOME: tmp }, urlBase: `http://127.0.0.1:${port}/` }).catch((e) => e)) as Error;
    expect(err.message).toContain('put resnet50-0676ba61.pth in ~/.cache/torch/hub/checkpoints/ (or ~/project-weights/)');
  });

  it('without onProgress and not on a TTY, prints a few plain percentage lines', async () => {
    const { entry, data } = fakeFile();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': data.length });
      sendInPieces(res, data);
    });
    let text = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        text += String(chunk);
        cb();
      },
    });
    await resolveWeights({ ...base(), model: 'alexnet', entry, urlBase: url, progressStream: sink });
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe(`downloading ${url}${entry.file} (${(data.length / 1e6).toFixed(1)} MB)`);
    expect(lines.at(-1)).toBe(`  ${entry.file}: 100%, sha256 ok`);
    expect(lines.length).toBeLessThanOrEqual(11); // header + at most 9 steps + done
    expect(text).not.toContain('\r');
  });

  it('an aborted signal cancels and leaves no file', async () => {
    const { entry, data } = fakeFile();
    const ac = new AbortController();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': data.length });
      res.write(data.subarray(0, 5000), () => setTimeout(() => ac.abort(), 20));
    });
    await expect(
      resolveWeights({ ...base(), model: 'alexnet', entry, urlBase: url, signal: ac.signal, onProgress: () => undefined }),
    ).rejects.toThrow(/failed: aborted; nothing was saved$/);
    noNewFiles();
  });
});

describe('verifyCachedWeights', () => {
  it('accepts the right file and rejects wrong size or content', async () => {
    const { entry, data } = fakeFile();
    const p = join(tmp, entry.file);
    writeFileSync(p, data);
    expect(await verifyCachedWeights(p, entry)).toEqual({ sha256: entry.sha256, bytes: entry.bytes });
    const flipped = Buffer.from(data);
    flipped[Math.floor(Math.random() * flipped.length)] ^= 1;
    writeFileSync(p, flipped);
    await expect(verifyCachedWeights(p, entry)).rejects.toThrow(`weights file ${p} fails its sha256 check`);
    writeFileSync(p, data.subarray(1));
    await expect(verifyCachedWeights(p, entry)).rejects.toThrow(`weights file ${p} has ${data.length - 1} bytes, expected ${data.length}`);
    await expect(verifyCachedWeights(join(tmp, 'none'), entry)).rejects.toThrow('is not a file');
  });
});
