// Debian's Chromium with WebGPU, headless, for the browser tests (flags from FACTS.md).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const FLAGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A fresh persistent context (its own user-data dir) with WebGPU enabled. */
export function launchChromium(timeout = 60_000): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'preimage-chromium-')), {
    executablePath: CHROMIUM, headless: true, args: FLAGS, timeout,
  });
}
