// The official torchvision weight files this project can load, and where they live online.
// Portable: no node imports. Full sha256 values come from third-party manifests (see
// shared FACTS.md); torchvision itself only puts the first 8 hex digits in the file name.

export type WeightsModel = 'alexnet' | 'resnet50';

/** One weight file: enough to find it, download it and check it. */
export interface WeightsFile {
  /** Bare file name, as torchvision caches it under `$TORCH_HOME/hub/checkpoints/`. */
  file: string;
  /** Full lowercase hex sha256 of the whole file. */
  sha256: string;
  /** Exact size in bytes. */
  bytes: number;
}

export interface WeightsCatalogEntry extends WeightsFile {
  model: WeightsModel;
  /** torchvision's enum member name, e.g. 'IMAGENET1K_V1'. */
  variant: string;
}

/** Where torchvision's `load_state_dict_from_url` fetches these files from. */
export const DEFAULT_WEIGHTS_URL_BASE = 'https://download.pytorch.org/models/';

export const WEIGHTS_CATALOG: readonly WeightsCatalogEntry[] = Object.freeze([
  {
    model: 'alexnet',
    variant: 'IMAGENET1K_V1',
    file: 'alexnet-owt-7be5be79.pth',
    sha256: '7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02',
    bytes: 244_408_911,
  },
  {
    model: 'resnet50',
    variant: 'IMAGENET1K_V1',
    file: 'resnet50-0676ba61.pth',
    sha256: '0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a',
    bytes: 102_530_333,
  },
  {
    model: 'resnet50',
    variant: 'IMAGENET1K_V2',
    file: 'resnet50-11ad3fa6.pth',
    sha256: '11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca',
    bytes: 102_540_417,
  },
] satisfies WeightsCatalogEntry[]);

/**
 * Variant used when none is asked for. Note this differs from torchvision, whose
 * `ResNet50_Weights.DEFAULT` is IMAGENET1K_V2: we default to V1 because it is the classic
 * ResNet50 (the one inversion papers used) and it keeps the plain resize-256 preprocessing;
 * V2 was trained with a different recipe and expects resize-232.
 */
export const DEFAULT_WEIGHTS_VARIANT: Readonly<Record<WeightsModel, string>> = Object.freeze({
  alexnet: 'IMAGENET1K_V1',
  resnet50: 'IMAGENET1K_V1',
});

/** Variant names known for a model, in catalog order. */
export function weightsVariants(model: WeightsModel): string[] {
  return WEIGHTS_CATALOG.filter((e) => e.model === model).map((e) => e.variant);
}

/**
 * The catalog entry for `model` and `variant` ('IMAGENET1K_V1' / 'IMAGENET1K_V2', any case;
 * omitted means DEFAULT_WEIGHTS_VARIANT, i.e. V1 for both models). Throws on an unknown
 * model or variant, naming the ones that exist.
 */
export function weightsEntry(model: WeightsModel, variant?: string): WeightsCatalogEntry {
  const known = weightsVariants(model);
  if (known.length === 0) {
    const models = [...new Set(WEIGHTS_CATALOG.map((e) => e.model))].join(', ');
    throw new Error(`no torchvision weights known for model '${String(model)}' (known: ${models})`);
  }
  const wanted = (variant ?? DEFAULT_WEIGHTS_VARIANT[model]).toUpperCase();
  const entry = WEIGHTS_CATALOG.find((e) => e.model === model && e.variant === wanted);
  if (!entry) {
    throw new Error(`unknown weights variant '${variant}' for ${model} (known: ${known.join(', ')})`);
  }
  return entry;
}

/**
 * The hash prefix torchvision embeds in a file name (`resnet50-0676ba61.pth` → '0676ba61'),
 * or undefined when the name has none. Same rule as torch.hub's HASH_REGEX `-([a-f0-9]*)\.`.
 */
export function hashPrefixInName(file: string): string | undefined {
  const m = /-([a-f0-9]*)\./.exec(file);
  return m && m[1].length > 0 ? m[1] : undefined;
}
