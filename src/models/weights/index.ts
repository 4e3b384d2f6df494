// Entry point: sniff the format of a weight file and read it into a StateDict.

import { readSafetensors, looksLikeSafetensors } from './safetensors.ts';
import { looksLikeLegacyTorch, readTorchFile } from './torch.ts';
import { looksLikeZip } from './zip.ts';
import type { StateDict } from './types.ts';

export type { StateDict, WeightTensor } from './types.ts';
export { checkStateDict, type CheckOptions } from './check.ts';
export { readSafetensors } from './safetensors.ts';
export { readTorchFile } from './torch.ts';

export type WeightFormat = 'torch-zip' | 'torch-legacy' | 'safetensors';

export function sniffWeightFormat(bytes: Uint8Array): WeightFormat | null {
  if (looksLikeZip(bytes)) return 'torch-zip';
  if (looksLikeLegacyTorch(bytes)) return 'torch-legacy';
  if (looksLikeSafetensors(bytes)) return 'safetensors';
  return null;
}

/** Read a torch.save file (zip or legacy) or a safetensors file, whichever `bytes` is. */
export function readStateDict(bytes: Uint8Array, name = 'weights'): StateDict {
  const format = sniffWeightFormat(bytes);
  if (format === 'safetensors') return readSafetensors(bytes, name);
  if (format) return readTorchFile(bytes, name);
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `weights '${name}': unknown format (first bytes ${head || 'none'}); expected a torch.save file (.pth/.pt) or safetensors`,
  );
}
