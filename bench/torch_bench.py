#!/usr/bin/python3
"""PyTorch CPU reference timings for the same work the WebGPU engine does.

Usage:  /usr/bin/python3 bench/torch_bench.py [--json] [--only model|inversion] [--quick] [--threads N]

Batch 1, 3x224x224, torchvision weights=None (random), eval mode, parameters frozen,
gradient with respect to the input only. The network is truncated at the tap (an
nn.Sequential of the modules up to it), as a PyTorch user would write it.
  model:     median ms of the forward to the tap (no_grad) and of forward + backward of
             ||phi(x) - phi0||^2 / ||phi0||^2 for a fixed target phi0.
  inversion: the seed recipe (C = 1, lambda_alpha = lambda_tv = 1e-5, alpha = 6, beta = 2,
             SGD lr 1e2 momentum 0.9, StepLR(100, 0.1) every iteration), 200 iterations;
             warmup_s runs from building the model to the end of iteration 0.
--json prints one JSON object on stdout; progress lines always go to stderr. Besides the
keys named above it adds forward_min_ms / forward_backward_min_ms / samples per model row,
final_loss per inversion row, and load_average ([1, 5, 15 min] at start, then at end).
per_iteration_ms excludes iteration 0 (that one is inside warmup_s); total_s covers it all.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

MODEL_TAPS = [('alexnet', 'features.4'), ('alexnet', 'features.12'),
              ('resnet50', 'maxpool'), ('resnet50', 'layer1'), ('resnet50', 'layer2'), ('resnet50', 'layer4')]
INVERSION_TAPS = [('alexnet', 'features.4'), ('resnet50', 'layer2')]
SHAPE = (1, 3, 224, 224)
RECIPE = {'C': 1.0, 'lambda_alpha': 1e-5, 'lambda_tv': 1e-5, 'alpha': 6.0, 'beta': 2.0,
          'lr': 1e2, 'momentum': 0.9, 'step_size': 100, 'gamma': 0.1, 'init_scale': 0.1}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build(model_name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, model_name)(weights=None).float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def truncate(model, model_name, tap):
    """The network up to and including `tap` (top-level torchvision names only)."""
    if model_name == 'alexnet':
        kind, _, idx = tap.partition('.')
        if kind != 'features' or not idx.isdigit():
            raise SystemExit(f'error: alexnet tap {tap!r} is not features.N')
        return model.features[: int(idx) + 1]
    names = ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4']
    if tap not in names:
        raise SystemExit(f'error: resnet50 tap {tap!r} is not one of {names}')
    return torch.nn.Sequential(*[getattr(model, n) for n in names[: names.index(tap) + 1]])


def randn(shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g)


def normalised_distance(phi, phi0):
    d = phi - phi0
    return (d * d).sum() / (phi0 * phi0).sum()


def tv_term(x, beta):
    # Replicated border on all four dims: dx = 0 in the last column, dy = 0 in the last row.
    xp = F.pad(x, (0, 1, 0, 1), mode='replicate')
    dx = xp[:, :, :-1, 1:] - xp[:, :, :-1, :-1]
    dy = xp[:, :, 1:, :-1] - xp[:, :, :-1, :-1]
    return (dx * dx + dy * dy).pow(beta / 2).sum()


def time_ms(fn, quick):
    """(median ms, min ms, n) of fn(): warm-up calls, then >= 10 timed, stopping once the
    time budget (about 3 s; 1 s with --quick) is spent. The min is reported too because on
    a shared 2-core machine other processes inflate some samples."""
    for _ in range(2 if quick else 3):
        fn()
    budget = 1.0 if quick else 3.0
    times = []
    start = time.perf_counter()
    while len(times) < 10 or (len(times) < 200 and time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), 1e3 * min(times), len(times)


def bench_model(model_name, tap, quick):
    net = truncate(build(model_name), model_name, tap)
    x = randn(SHAPE, 1)
    with torch.no_grad():
        phi0 = net(randn(SHAPE, 2))

    def forward():
        with torch.no_grad():
            net(x)

    def forward_backward():
        xg = x.detach().requires_grad_(True)
        normalised_distance(net(xg), phi0).backward()

    fwd, fwd_min, n1 = time_ms(forward, quick)
    fb, fb_min, n2 = time_ms(forward_backward, quick)
    log(f'{model_name} -> {tap}: forward {fwd:.2f} ms (min {fwd_min:.2f}, n={n1}), '
        f'forward+backward {fb:.2f} ms (min {fb_min:.2f}, n={n2})')
    return {'model': model_name, 'tap': tap, 'forward_ms': round(fwd, 3), 'forward_backward_ms': round(fb, 3),
            'forward_min_ms': round(fwd_min, 3), 'forward_backward_min_ms': round(fb_min, 3),
            'samples': [n1, n2]}


def bench_inversion(model_name, tap, iterations):
    r = RECIPE
    x0 = randn(SHAPE, 2)
    x = randn(SHAPE, 1, r['init_scale']).requires_grad_(True)
    t_start = time.perf_counter()
    net = truncate(build(model_name), model_name, tap)
    with torch.no_grad():
        phi0 = net(x0)
    opt = torch.optim.SGD([x], lr=r['lr'], momentum=r['momentum'])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=r['step_size'], gamma=r['gamma'])
    t_first = None
    loss = None
    for i in range(iterations):
        opt.zero_grad()
        loss = (r['C'] * normalised_distance(net(x), phi0)
                + r['lambda_alpha'] * x.abs().pow(r['alpha']).sum()
                + r['lambda_tv'] * tv_term(x, r['beta']))
        loss.backward()
        opt.step()
        sched.step()
        if i == 0:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    total = t_end - t_start
    per_it = 1e3 * (t_end - t_first) / max(iterations - 1, 1)
    final = float(loss.detach())
    log(f'inversion {model_name} -> {tap}: {iterations} it, total {total:.2f} s, '
        f'{per_it:.2f} ms/it after the first, warm-up {t_first - t_start:.2f} s, last loss {final:.5g}')
    if not torch.isfinite(loss):
        log(f'WARNING: inversion {model_name} -> {tap} loss is not finite')
    return {'model': model_name, 'tap': tap, 'iterations': iterations, 'total_s': round(total, 3),
            'per_iteration_ms': round(per_it, 3), 'warmup_s': round(t_first - t_start, 3),
            'final_loss': final}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--json', action='store_true', help='print one JSON object on stdout')
    ap.add_argument('--only', choices=['model', 'inversion'])
    ap.add_argument('--quick', action='store_true', help='fewer repetitions (still >= 10 per figure)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--iterations', type=int, default=200, help='inversion iterations')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    log(f'torch {torch.__version__}, {torch.get_num_threads()} threads, input {list(SHAPE)}')
    load0 = os.getloadavg()
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'model': [], 'inversion': []}
    if args.only in (None, 'model'):
        out['model'] = [bench_model(m, t, args.quick) for m, t in MODEL_TAPS]
    if args.only in (None, 'inversion'):
        out['inversion'] = [bench_inversion(m, t, args.iterations) for m, t in INVERSION_TAPS]
    # Other processes on a 2-core machine distort every figure: say how busy it was.
    out['load_average'] = [round(v, 2) for v in load0 + os.getloadavg()]
    log(f'load average (1, 5, 15 min) at start {load0}, at end {os.getloadavg()}')
    if args.json:
        print(json.dumps(out))


if __name__ == '__main__':
    main()
