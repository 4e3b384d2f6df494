// The seed note's four experiments, one named command each (shared/seed/research-note.en.md).
export interface Experiment { title: string; model: string; layers: string[]; sweeps: string[] }

const ALEXNET_FIRST_FIVE = ['features.0..features.4'];

export const EXPERIMENTS: Record<string, Experiment> = {
  'alexnet-layers': {
    title: 'AlexNet, first five layers (seed defaults)', model: 'alexnet', layers: ALEXNET_FIRST_FIVE, sweeps: [],
  },
  'resnet50-layers': {
    title: 'ResNet50: first five layers, inside a stage and across stages (seed defaults)', model: 'resnet50',
    // Row 1: the first five layers. Row 2: inside stage 1 (layer1.0, layer1.1; its last block is
    // layer1, already in row 1) and across stages.
    layers: ['conv1,bn1,relu,maxpool,layer1', 'layer1.0,layer1.1,layer2,layer3,layer4'], sweeps: [],
  },
  'lambda-alpha-sweep': {
    title: 'AlexNet first five layers, λα ∈ {1e-7 … 1e-3}, λTV = 1e-5', model: 'alexnet', layers: ALEXNET_FIRST_FIVE,
    sweeps: ['lambda-alpha=1e-7,1e-6,1e-5,1e-4,1e-3'],
  },
  'lambda-tv-sweep': {
    title: 'AlexNet first five layers, λTV ∈ {1e-7 … 1e-3}, λα = 1e-5', model: 'alexnet', layers: ALEXNET_FIRST_FIVE,
    sweeps: ['lambda-tv=1e-7,1e-6,1e-5,1e-4,1e-3'],
  },
};
