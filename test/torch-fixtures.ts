// The PyTorch reference fixtures (tools/make_model_fixtures.py, Debian's python3-torch),
// generated once into test/fixtures/generated when torch is available. Without torch the
// tests that need them are skipped and say so loudly.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readStateDict } from '../src/models/weights/index.ts';
import type { StateDict } from '../src/models/weights/types.ts';

export const FIXTURE_DIR = join(import.meta.dirname, 'fixtures', 'generated');
const MODELS = ['alexnet', 'resnet50'];
const KINDS = ['random', 'inputs', 'activations', 'gradients', 'losses', 'trace'];

const ready = () => MODELS.every((m) => KINDS.every((k) => existsSync(join(FIXTURE_DIR, `${m}-${k}.pth`))));

function torchAvailable(): boolean {
  try { execFileSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { stdio: 'ignore' }); return true; } catch { return false; }
}

/** True when the fixtures exist (generating them if torch is here); otherwise warns that `what` is skipped. */
export function torchFixtures(what: string): boolean {
  if (!ready() && torchAvailable()) {
    execFileSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'tools', 'make_model_fixtures.py'), '--out', FIXTURE_DIR], { stdio: 'inherit', timeout: 900_000 });
  }
  if (ready()) return true;
  console.warn(`\n!!! SKIPPING ${what}: /usr/bin/python3 has no torch/torchvision (install python3-torch python3-torchvision, or run bash scripts/setup-webgpu.sh --test-deps)\n`);
  return false;
}

export const loadFixture = (file: string): StateDict => readStateDict(new Uint8Array(readFileSync(join(FIXTURE_DIR, file))), file);
