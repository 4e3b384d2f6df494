// Where weight files come from on Node: an explicit path, torchvision's cache, the project's
// weights/ folder, or a download into torchvision's cache (so torch and we share one copy).

import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { access, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import {
  DEFAULT_WEIGHTS_URL_BASE,
  weightsEntry,
  type WeightsFile,
  type WeightsModel,
} from '../models/weights/catalog.ts';

export type WeightsSource = 'explicit' | 'torch-cache' | 'project' | 'download';

export interface DownloadProgress {
  file: string;
  url: string;
  /** Bytes received so far. */
  received: number;
  /** Bytes expected in all (the catalog size). */
  total: number;
}

export interface ResolveWeightsOptions {
  model: WeightsModel;
  /** Explicit path to a weight file; when set it is the only place looked at. */
  weights?: string;
  /** 'IMAGENET1K_V1' | 'IMAGENET1K_V2'; see catalog.ts for the default. */
  variant?: string;
  /** Overrides the catalog entry (tests, private mirrors of other files). */
  entry?: WeightsFile;
  /** Default: env TORCH_HOME, else `$XDG_CACHE_HOME/torch`, else `~/.cache/torch`. */
  torchHome?: string;
  /** Default: `<repo>/weights`. */
  projectWeightsDir?: string;
  /** Default: env PREIMAGE_WEIGHTS_URL, else DEFAULT_WEIGHTS_URL_BASE. */
  urlBase?: string;
  /** Allow downloading when no local copy exists (default true). */
  download?: boolean;
  /** Receives progress instead of the stderr bar/lines; pass a no-op for silence. */
  onProgress?: (p: DownloadProgress) => void;
  /** Where the bar/lines go when there is no onProgress (default process.stderr). */
  progressStream?: NodeJS.WritableStream;
  /** Give up when the connection is idle this long, before or during the body (default 30 s). */
  timeoutMs?: number;
  /** Aborting it cancels a download (and removes the partial file). */
  signal?: AbortSignal;
  /** Environment to read TORCH_HOME, XDG_CACHE_HOME, HOME, PREIMAGE_WEIGHTS_URL from. */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedWeights {
  path: string;
  source: WeightsSource;
  entry: WeightsFile;
}

const MAX_REDIRECTS = 5;
const DEFAULT_TIMEOUT_MS = 30_000;

function envValue(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const v = env[key];
  return v === undefined || v === '' ? undefined : v;
}

/** torch.hub's rule: TORCH_HOME, else `$XDG_CACHE_HOME/torch`, XDG_CACHE_HOME defaulting to ~/.cache. */
export function defaultTorchHome(env: NodeJS.ProcessEnv = process.env): string {
  const th = envValue(env, 'TORCH_HOME');
  if (th) return resolve(expandHome(th, env));
  const xdg = envValue(env, 'XDG_CACHE_HOME') ?? join(homeDir(env), '.cache');
  return resolve(expandHome(xdg, env), 'torch');
}

/** `<torchHome>/hub/checkpoints`, where torchvision keeps downloaded weights. */
export function torchCheckpointsDir(torchHome: string): string {
  return join(torchHome, 'hub', 'checkpoints');
}

let cachedRepoRoot: string | undefined;

/** The folder holding this package's package.json (found by walking up from this module). */
export function repoRoot(): string {
  if (cachedRepoRoot) return cachedRepoRoot;
  const here = dirname(fileURLToPath(import.meta.url));
  // Walk up rather than hard-code '../..' so a bundled copy (dist/) still finds the repo.
  for (let dir = here; ; ) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'preimage') {
          return (cachedRepoRoot = dir);
        }
      } catch {
        // unreadable package.json: keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return (cachedRepoRoot = resolve(here, '..', '..'));
}

export function defaultProjectWeightsDir(): string {
  return join(repoRoot(), 'weights');
}

function homeDir(env: NodeJS.ProcessEnv): string {
  return envValue(env, 'HOME') ?? homedir();
}

function expandHome(p: string, env: NodeJS.ProcessEnv): string {
  return p === '~' || p.startsWith('~/') ? join(homeDir(env), p.slice(1)) : p;
}

/** Shortens paths under the home folder to `~/...` for messages. */
function pretty(p: string, env: NodeJS.ProcessEnv): string {
  const home = homeDir(env);
  if (home && home !== sep && (p === home || p.startsWith(home + sep))) return '~' + p.slice(home.length);
  return p;
}

async function isReadableFile(p: string): Promise<boolean> {
  try {
    const s = await stat(p);
    if (!s.isFile()) return false;
    await access(p, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds (or fetches) the weight file for `opts.model`. Order: explicit path; torchvision's
 * cache; the project's weights/ folder; download into torchvision's cache. Cached files are
 * not re-hashed (see verifyCachedWeights). `--weights random` is the CLI's business: handle
 * it before calling this.
 */
export async function resolveWeights(opts: ResolveWeightsOptions): Promise<ResolvedWeights> {
  const env = opts.env ?? process.env;
  const entry = opts.entry ?? weightsEntry(opts.model, opts.variant);

  if (opts.weights !== undefined) {
    const p = resolve(expandHome(opts.weights, env));
    const s = await stat(p).catch(() => undefined);
    if (!s) throw new Error(`weights file ${opts.weights} does not exist`);
    if (!s.isFile()) throw new Error(`weights path ${opts.weights} is not a file`);
    try {
      await access(p, fsConstants.R_OK);
    } catch {
      throw new Error(`weights file ${opts.weights} is not readable`);
    }
    return { path: p, source: 'explicit', entry };
  }

  const torchHome = opts.torchHome !== undefined ? resolve(expandHome(opts.torchHome, env)) : defaultTorchHome(env);
  const cacheDir = torchCheckpointsDir(torchHome);
  const projectDir = opts.projectWeightsDir !== undefined ? resolve(opts.projectWeightsDir) : defaultProjectWeightsDir();

  const cached = join(cacheDir, entry.file);
  if (await isReadableFile(cached)) return { path: cached, source: 'torch-cache', entry };
  const inProject = join(projectDir, entry.file);
  if (await isReadableFile(inProject)) return { path: inProject, source: 'project', entry };

  const whereToPut =
    `put ${entry.file} in ${pretty(cacheDir, env)}${sep} (or ${pretty(projectDir, env)}${sep}), ` +
    `pass --weights PATH, or use --weights random`;
  if (opts.download === false) {
    throw new Error(`no weights for ${opts.model} and downloading is off: ${whereToPut}`);
  }

  const base = withSlash(opts.urlBase ?? envValue(env, 'PREIMAGE_WEIGHTS_URL') ?? DEFAULT_WEIGHTS_URL_BASE);
  const url = base + entry.file;
  const path = await downloadWeights({
    url,
    entry,
    dir: cacheDir,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    onProgress: opts.onProgress,
    progressStream: opts.progressStream ?? process.stderr,
    signal: opts.signal,
    unreachable: (why) => `no weights for ${opts.model}: could not reach ${url} (${why}); ${whereToPut}`,
  });
  return { path, source: 'download', entry };
}

function withSlash(base: string): string {
  return base.endsWith('/') ? base : base + '/';
}

/**
 * Full check of a weight file against its catalog entry (size, then sha256 of every byte).
 * Resolves with the digest when it matches; throws a one-line error naming the file otherwise.
 * Meant for a CLI flag: hashing 244 MB on every run would be too slow, and torchvision only
 * checks the 8-hex prefix in the name (and only with check_hash).
 */
export async function verifyCachedWeights(path: string, entry: WeightsFile): Promise<{ sha256: string; bytes: number }> {
  const s = await stat(path).catch(() => undefined);
  if (!s || !s.isFile()) throw new Error(`cannot verify weights: ${path} is not a file`);
  if (s.size !== entry.bytes) {
    throw new Error(`weights file ${path} has ${s.size} bytes, expected ${entry.bytes} for ${entry.file}`);
  }
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
    }
  } finally {
    await fh.close();
  }
  const got = hash.digest('hex');
  if (got !== entry.sha256.toLowerCase()) {
    throw new Error(`weights file ${path} fails its sha256 check (got ${got}, expected ${entry.sha256} for ${entry.file})`);
  }
  return { sha256: got, bytes: s.size };
}

interface DownloadJob {
  url: string;
  entry: WeightsFile;
  dir: string;
  timeoutMs: number;
  onProgress?: (p: DownloadProgress) => void;
  progressStream: NodeJS.WritableStream;
  signal?: AbortSignal;
  /** Message for failures before any HTTP response (offline, refused, DNS). */
  unreachable: (why: string) => string;
}

/** A failure before the server answered: likely offline, so the message says where to put the file. */
class UnreachableError extends Error {}

async function downloadWeights(job: DownloadJob): Promise<string> {
  const { url, entry, dir } = job;
  const final = join(dir, entry.file);
  const partial = join(dir, `${entry.file}.partial-${randomBytes(6).toString('hex')}`);
  const fail = (what: string) => new Error(`download of ${url} failed: ${what}; nothing was saved`);

  let fh: FileHandle | undefined;
  let progress: Progress | undefined;
  try {
    const res = await get(url, job);
    await mkdir(dir, { recursive: true });
    fh = await open(partial, 'wx');
    progress = startProgress(job);
    const hash = createHash('sha256');
    let received = 0;
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        received += buf.length;
        if (received > entry.bytes) {
          throw new Error(`server sent more than the expected ${entry.bytes} bytes`);
        }
        hash.update(buf);
        await fh.write(buf);
        progress.update(received);
      }
    } catch (e) {
      throw new Error(res.failure() ?? `connection broke after ${received} of ${entry.bytes} bytes (${message(e)})`);
    }
    // A clean end can still be short: servers that close without Content-Length, proxies.
    if (received !== entry.bytes) {
      throw new Error(`got ${received} bytes, expected ${entry.bytes} (connection closed early?)`);
    }
    const got = hash.digest('hex');
    if (got !== entry.sha256.toLowerCase()) {
      throw new Error(`sha256 mismatch (got ${got.slice(0, 12)}…, expected ${entry.sha256.slice(0, 12)}…)`);
    }
    progress.done();
    progress = undefined;
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(partial, final);
    await syncDir(dir);
    return final;
  } catch (e) {
    progress?.abort();
    await fh?.close().catch(() => undefined);
    await unlink(partial).catch(() => undefined);
    if (e instanceof UnreachableError) throw new Error(job.unreachable(e.message));
    throw fail(message(e));
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; directories cannot be opened like this on Windows.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}

interface Response {
  body: AsyncIterable<unknown>;
  /** Why the body stream died, when we killed it ourselves (timeout, abort). */
  failure(): string | undefined;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN',
  'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EADDRNOTAVAIL',
]);

/** GET with up to MAX_REDIRECTS redirects; resolves once a 200 response has started. */
async function get(startUrl: string, job: DownloadJob): Promise<Response> {
  let url = startUrl;
  for (let hop = 0; ; hop++) {
    const r = await request(url, job);
    if (r.kind === 'ok') return r.response;
    if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects (last to ${r.location})`);
    url = r.location;
  }
}

type RequestResult = { kind: 'ok'; response: Response } | { kind: 'redirect'; location: string };

function request(url: string, job: DownloadJob): Promise<RequestResult> {
  return new Promise((resolvePromise, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new Error(`bad URL ${url}`));
      return;
    }
    const mod = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
    if (!mod) {
      reject(new Error(`unsupported protocol ${parsed.protocol} in ${url}`));
      return;
    }
    let failure: string | undefined;
    let answered = false;
    const seconds = `${+(job.timeoutMs / 1000).toFixed(3)} s`;
    const req = mod.get(parsed, {
      // No pooling: one long transfer, and nothing left open to keep the process alive.
      agent: false,
      timeout: job.timeoutMs,
      signal: job.signal,
      headers: { 'user-agent': 'preimage', 'accept-encoding': 'identity' },
    });
    req.on('timeout', () => {
      failure = answered ? `no data for ${seconds}` : `timed out after ${seconds} without a response`;
      req.destroy(new Error(failure));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (answered) return; // the body iterator reports it
      if (job.signal?.aborted) reject(new Error('aborted'));
      else if (failure) reject(new UnreachableError(failure));
      else if (e.code && CONNECTION_CODES.has(e.code)) reject(new UnreachableError(e.code));
      else reject(e);
    });
    const onAbort = () => {
      failure ??= 'aborted';
    };
    job.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => job.signal?.removeEventListener('abort', onAbort));
    req.on('response', (res) => {
      answered = true;
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && status !== 304) {
        res.resume();
        const loc = res.headers.location;
        if (!loc) {
          reject(new Error(`HTTP ${status} redirect without a Location header`));
          return;
        }
        resolvePromise({ kind: 'redirect', location: new URL(loc, url).href });
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status}${res.statusMessage ? ' ' + res.statusMessage : ''}${url !== job.url ? ` (at ${url})` : ''}`));
        return;
      }
      const len = res.headers['content-length'];
      if (len !== undefined && Number(len) !== job.entry.bytes) {
        res.destroy();
        reject(new Error(`server announces ${len} bytes, expected ${job.entry.bytes}`));
        return;
      }
      resolvePromise({ kind: 'ok', response: { body: res, failure: () => failure } });
    });
  });
}

interface Progress {
  update(received: number): void;
  done(): void;
  abort(): void;
}

function startProgress(job: DownloadJob): Progress {
  const total = job.entry.bytes;
  const file = job.entry.file;
  if (job.onProgress) {
    const cb = job.onProgress;
    cb({ file, url: job.url, received: 0, total });
    return {
      update: (received) => cb({ file, url: job.url, received, total }),
      done: () => undefined,
      abort: () => undefined,
    };
  }
  const stream = job.progressStream;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  if ((stream as NodeJS.WriteStream).isTTY) {
    const bar = new cliProgress.SingleBar({
      stream,
      format: `${file} [{bar}] {percentage}% {done}/{size} MB, ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    });
    bar.start(total, 0, { done: mb(0), size: mb(total) });
    return {
      update: (received) => bar.update(received, { done: mb(received) }),
      done: () => bar.stop(),
      abort: () => bar.stop(),
    };
  }
  // Not a terminal (CI logs, pipes): a line every 10% rather than carriage-return noise.
  stream.write(`downloading ${job.url} (${mb(total)} MB)\n`);
  let nextTenth = 1;
  return {
    update: (received) => {
      const tenth = Math.floor((received / total) * 10);
      if (tenth >= nextTenth && tenth < 10) {
        stream.write(`  ${file}: ${tenth * 10}% (${mb(received)} of ${mb(total)} MB)\n`);
        nextTenth = tenth + 1;
      }
    },
    done: () => void stream.write(`  ${file}: 100%, sha256 ok\n`),
    abort: () => undefined,
  };
}
