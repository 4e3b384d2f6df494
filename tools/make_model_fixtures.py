#!/usr/bin/python3
"""Write the PyTorch reference fixtures the model/inversion tests compare against.

Usage:  /usr/bin/python3 tools/make_model_fixtures.py --out test/fixtures/generated [--models alexnet,resnet50]

For each model M it writes (every .pth is a flat dict str -> float32 tensor, so the
project's state_dict reader can open it; metadata goes to the .json files):
  M-random.pth       state_dict of torchvision.models.M(weights=None) after torch.manual_seed(0)
                     (ResNet50: BatchNorm parameters/buffers randomised, see randomise_resnet_bn)
  M-inputs.pth       {'x', 'x0'}: [2, 3, 131, 163] (odd, non-square)
  M-activations.pth  tap -> activation of x at that tap
  M-taps.json        [{name, shape}] for every tap, in execution order
  M-gradients.pth    tap -> dL/dx for L = sum_n ||phi_n(x) - phi_n(x0)||^2 / ||phi_n(x0)||^2
  M-losses.pth       tap -> L (0-d tensor)
  M-trace.pth        50 iterations of the seed inversion at one tap:
                     {'x_init', 'x0', 'loss', 'feature', 'alpha', 'tv', 'x_final'}
  M-trace.json       the trace's tap, recipe and seeds
Re-running gives the same tensor values (fixed seeds, deterministic CPU kernels, 2 threads).
Tap names follow the project: torchvision module names, except that a Bottleneck's single
`relu` module is named per application: relu1 (after bn1), relu2 (after bn2), relu3
(after the residual add, equal to the block output).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

torch.set_num_threads(2)
try:
    torch.use_deterministic_algorithms(True)
except Exception as e:  # older builds: the seeds alone still make CPU runs repeatable
    print(f'note: use_deterministic_algorithms unavailable ({e})', file=sys.stderr)

INPUT_SHAPE = (2, 3, 131, 163)
SEED_WEIGHTS = 0
SEED_BN = 1
SEED_X = 2
SEED_X0 = 3
SEED_TRACE_INIT = 4
SEED_TRACE_X0 = 5

GRADIENT_TAPS = {
    'alexnet': [f'features.{i}' for i in range(13)] + ['avgpool', 'classifier.1', 'classifier.6'],
    'resnet50': (['conv1', 'bn1', 'relu', 'maxpool',
                  'layer1.0.relu1', 'layer1.0.relu2', 'layer1.0.relu3', 'layer1.0.conv2', 'layer1.0.downsample.0']
                 + [f'layer{l}.{b}' for l, n in ((1, 3), (2, 4), (3, 6), (4, 3)) for b in range(n)]
                 + ['layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc']),
}

TRACE = {
    'alexnet': 'features.4',
    'resnet50': 'layer1',
}
TRACE_SHAPE = (1, 3, 96, 112)
TRACE_ITERATIONS = 50
RECIPE = {'C': 1.0, 'lambda_alpha': 1e-5, 'lambda_tv': 1e-5, 'alpha': 6.0, 'beta': 2.0,
          'lr': 1e2, 'momentum': 0.9, 'step_size': 100, 'gamma': 0.1, 'init_scale': 0.1}


def randn(shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g)).float().contiguous()


def randomise_resnet_bn(model):
    """Make eval-mode BatchNorm a real affine transform instead of (nearly) the identity.

    running_mean ~ 0.1 randn, running_var ~ U(0.5, 2), weight ~ U(0.5, 1.5), bias ~ 0.1 randn.
    Each Bottleneck's bn3.weight is then multiplied by 0.2: with random weights and eval-mode
    BN (which does not renormalise) the residual branches otherwise add up so the activations
    grow block after block; 0.2 keeps them within a few orders of magnitude through 16 blocks.
    num_batches_tracked is left as torchvision made it.
    """
    g = torch.Generator().manual_seed(SEED_BN)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
        for m in model.modules():
            if isinstance(m, torchvision.models.resnet.Bottleneck):
                m.bn3.weight.mul_(0.2)


def build(model_name):
    torch.manual_seed(SEED_WEIGHTS)
    model = getattr(torchvision.models, model_name)(weights=None)
    if model_name == 'resnet50':
        randomise_resnet_bn(model)
    model = model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class _Stop(Exception):
    def __init__(self, value):
        super().__init__('stop')
        self.value = value


class Taps:
    """Forward hooks naming every tap; optionally stops the forward at one of them.

    Stopping by exception means the network only runs as far as the tap, which is
    what "Φ truncated at the tap" needs, including taps inside a Bottleneck.
    """

    def __init__(self, model):
        self.model = model
        self.handles = []
        self.record = None   # dict to fill with clones, or None
        self.stop_at = None  # tap name, or None
        self.order = []
        for name, m in model.named_modules():
            if name == '' or isinstance(m, torch.nn.Sequential) and not name.startswith('layer'):
                continue
            if isinstance(m, torch.nn.Sequential) and '.' in name:
                continue  # layerX.Y.downsample: its .0/.1 are the taps
            if isinstance(m, torchvision.models.resnet.Bottleneck):
                self.handles.append(m.register_forward_pre_hook(self._reset_counter(m)))
            if name.endswith('.relu') and name.count('.') == 2:  # a Bottleneck's relu
                self.handles.append(m.register_forward_hook(self._counted(name[:-len('relu')])))
            else:
                self.handles.append(m.register_forward_hook(self._named(name)))

    @staticmethod
    def _reset_counter(block):
        def hook(mod, inp):
            mod._tap_relu_count = 0
        return hook

    def _counted(self, prefix):
        block = self.model.get_submodule(prefix[:-1])

        def hook(mod, inp, out):
            block._tap_relu_count += 1
            self._seen(f'{prefix}relu{block._tap_relu_count}', out)
        return hook

    def _named(self, name):
        def hook(mod, inp, out):
            self._seen(name, out)
        return hook

    def _seen(self, name, out):
        if self.record is not None:
            # clone: in-place ReLUs and the Bottleneck's `out += identity` overwrite outputs.
            self.record[name] = out.detach().clone().contiguous()
            self.order.append(name)
        if name == self.stop_at:
            raise _Stop(out)

    def all(self, x):
        self.record, self.order, self.stop_at = {}, [], None
        try:
            with torch.no_grad():
                self.model(x)
            return self.record, self.order
        finally:
            self.record = None

    def phi(self, x, tap):
        """The network truncated at `tap`, applied to x (keeps the autograd graph)."""
        self.stop_at = tap
        try:
            self.model(x)
        except _Stop as s:
            return s.value
        finally:
            self.stop_at = None
        raise KeyError(f'tap {tap!r} never ran')


def normalised_distance(phi, phi0):
    """sum over the batch of ||phi_n - phi0_n||^2 / ||phi0_n||^2."""
    n = phi.shape[0]
    d = (phi - phi0).reshape(n, -1)
    r = phi0.reshape(n, -1)
    return ((d * d).sum(1) / (r * r).sum(1)).sum()


def tv_term(x, beta):
    # Replicated border: the padded last column/row repeats, so dx = 0 there, dy = 0 there.
    xp = F.pad(x, (0, 1, 0, 1), mode='replicate')
    dx = xp[:, :, :-1, 1:] - xp[:, :, :-1, :-1]
    dy = xp[:, :, 1:, :-1] - xp[:, :, :-1, :-1]
    return (dx * dx + dy * dy).pow(beta / 2).sum()


def alpha_term(x, alpha):
    return x.abs().pow(alpha).sum()


def trace(taps, tap):
    r = RECIPE
    x_init = randn(TRACE_SHAPE, SEED_TRACE_INIT, r['init_scale'])
    x0 = randn(TRACE_SHAPE, SEED_TRACE_X0)
    with torch.no_grad():
        phi0 = taps.phi(x0.double(), tap).detach().clone()
    x = x_init.double().clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=r['lr'], momentum=r['momentum'])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=r['step_size'], gamma=r['gamma'])
    rows = {'loss': [], 'feature': [], 'alpha': [], 'tv': []}
    for _ in range(TRACE_ITERATIONS):
        opt.zero_grad()
        feat = normalised_distance(taps.phi(x, tap), phi0)
        ra = alpha_term(x, r['alpha'])
        rtv = tv_term(x, r['beta'])
        loss = r['C'] * feat + r['lambda_alpha'] * ra + r['lambda_tv'] * rtv
        loss.backward()
        for k, v in (('loss', loss), ('feature', feat), ('alpha', ra), ('tv', rtv)):
            rows[k].append(v.detach().clone())
        opt.step()
        sched.step()
    out = {'x_init': x_init, 'x0': x0}
    out.update({k: torch.stack(v).float().contiguous() for k, v in rows.items()})
    out['x_final'] = x.detach().float().clone().contiguous()
    return out


def check_finite(what, d):
    bad = [k for k, v in d.items() if not torch.isfinite(v).all()]
    if bad:
        raise SystemExit(f'error: {what} has non-finite values at {bad[:5]}')


def save(path, obj, written):
    torch.save(obj, path)
    written.append(path)


def make(model_name, out_dir, written):
    t0 = time.time()
    model = build(model_name)
    save(os.path.join(out_dir, f'{model_name}-random.pth'), model.state_dict(), written)
    # References are computed in float64 from the same float32 weights and inputs: torch's
    # own float32 gradients flip a ReLU mask now and then (an element whose pre-activation
    # rounds to the other side of 0), which moves the input gradient by up to ~1e-3 relative
    # (measured: layer1.2 1.5e-3, layer2.0 4.8e-4 between torch f32 and f64). Saved as f32.
    model = model.double()
    taps = Taps(model)
    x = randn(INPUT_SHAPE, SEED_X)
    x0 = randn(INPUT_SHAPE, SEED_X0)
    save(os.path.join(out_dir, f'{model_name}-inputs.pth'), {'x': x, 'x0': x0}, written)
    x, x0 = x.double(), x0.double()

    acts, order = taps.all(x)
    check_finite(f'{model_name} activations', acts)
    save(os.path.join(out_dir, f'{model_name}-activations.pth'), {k: acts[k].float() for k in order}, written)
    p = os.path.join(out_dir, f'{model_name}-taps.json')
    with open(p, 'w') as f:
        # one tap per line: easy to diff against the TS side's own listing
        f.write('[\n' + ',\n'.join(json.dumps({'name': k, 'shape': list(acts[k].shape)}) for k in order) + '\n]\n')
    written.append(p)
    t_act = time.time()

    grads, losses = {}, {}
    model32 = build(model_name)
    taps32 = Taps(model32)

    def input_gradient(t, x_, x0_, tap):
        with torch.no_grad():
            phi0 = t.phi(x0_, tap).detach().clone()
        xg = x_.clone().requires_grad_(True)
        loss = normalised_distance(t.phi(xg, tap), phi0)
        loss.backward()
        return loss.detach(), xg.grad.detach()

    for tap in GRADIENT_TAPS[model_name]:
        if tap not in acts:
            raise SystemExit(f'error: gradient tap {tap!r} is not a {model_name} tap')
        loss, g = input_gradient(taps, x, x0, tap)
        grads[tap] = g.float().clone().contiguous()
        losses[tap] = loss.clone().float()
        # How far torch's own float32 gradient is from the float64 one: the conditioning
        # of this tap's gradient at f32 (the tests allow an f32 engine twice this).
        _, g32 = input_gradient(taps32, x.float(), x0.float(), tap)
        losses[f'torch_f32_error:{tap}'] = ((g32.double() - g).norm() / g.norm()).float()
    check_finite(f'{model_name} gradients', grads)
    check_finite(f'{model_name} losses', losses)
    save(os.path.join(out_dir, f'{model_name}-gradients.pth'), grads, written)
    save(os.path.join(out_dir, f'{model_name}-losses.pth'), losses, written)
    t_grad = time.time()

    tap = TRACE[model_name]
    tr = trace(taps, tap)
    if not all(torch.isfinite(v).all() for v in tr.values()):
        print(f'WARNING: {model_name} trace at {tap} diverged (non-finite values); saved as is', file=sys.stderr)
    save(os.path.join(out_dir, f'{model_name}-trace.pth'), tr, written)
    p = os.path.join(out_dir, f'{model_name}-trace.json')
    with open(p, 'w') as f:
        json.dump({'tap': tap, 'shape': list(TRACE_SHAPE), 'iterations': TRACE_ITERATIONS,
                   'recipe': RECIPE, 'seed_x_init': SEED_TRACE_INIT, 'seed_x0': SEED_TRACE_X0,
                   'note': 'loss[i], feature[i], alpha[i], tv[i] are computed before step i; '
                           'loss = C*feature + lambda_alpha*alpha + lambda_tv*tv; '
                           'SGD(momentum) + StepLR stepped every iteration'}, f, indent=1)
        f.write('\n')
    written.append(p)
    t_end = time.time()

    print(f'{model_name}: {len(order)} taps, activations {t_act - t0:.1f} s, '
          f'{len(grads)} gradients {t_grad - t_act:.1f} s, trace {t_end - t_grad:.1f} s', file=sys.stderr)
    for k in [order[0], order[len(order) // 2], order[-1]]:
        a = acts[k]
        print(f'  act {k:24s} {list(a.shape)} min {a.min():.4g} max {a.max():.4g} mean {a.mean():.4g} '
              f'std {a.std():.4g}', file=sys.stderr)
    print(f'  trace {tap}: loss {tr["loss"][0]:.6g} -> {tr["loss"][-1]:.6g} '
          f'(feature {tr["feature"][0]:.4g} -> {tr["feature"][-1]:.4g})', file=sys.stderr)
    return acts, order, grads, losses, tr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='output folder (created if missing)')
    ap.add_argument('--models', default='alexnet,resnet50', help='comma-separated: alexnet,resnet50')
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(',') if m.strip()]
    for m in models:
        if m not in GRADIENT_TAPS:
            raise SystemExit(f'error: unknown model {m!r} (expected alexnet or resnet50)')
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    written = []
    for m in models:
        make(m, args.out, written)
    for p in written:
        print(f'wrote {p} ({os.path.getsize(p):,} bytes)')
    print(f'done in {time.time() - t0:.1f} s (torch {torch.__version__}, {torch.get_num_threads()} threads)')


if __name__ == '__main__':
    main()
