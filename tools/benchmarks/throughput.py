"""Training throughput of DINO vs MTE-DINO (ViT-S/16, ``configs/mte_dino_vits.py``
with N = K = 0 and no distillation vs its defaults N = K = 4): images/s and
peak memory of full training steps (``model.train_step``: the data
preprocessor with the fast pipeline's batched photometric augmentation,
student and teacher forward, backward, optimizer step, EMA) on the GPU when
there is one (default batch 64, mixed precision as ``tools/train.py --amp``
sets it), else the same code on this CPU at a small size (batch 2, float32:
bfloat16 matmuls are emulated, hence slower, on CPUs without AVX512-BF16 /
AMX, such as this machine's; ``--amp on`` measures them anyway).

    python tools/benchmarks/throughput.py [--batch B] [--local-crops 8]
        [--amp auto|on|off] [--compile] [--rounds 2] [--steps 5] [--warmup 3]

Every measurement is a fresh process, DINO and MTE-DINO interleaved round by
round; the median step over rounds is reported, with the ratio MTE / DINO.
Peak memory: ``torch.cuda.max_memory_allocated`` on a GPU, the rise of the
peak resident memory over the steps on CPU.
"""
import argparse
import json
import os
import statistics
import sys
import time

from _measure import REPO, peak_rss_mb, rss_mb, run_worker

CONFIG = 'configs/mte_dino_vits.py'
METHODS = ('DINO', 'MTE-DINO')


def batch_data(batch, local_crops, seed=0):
    """uint8 views and data samples carrying drawn photometric parameters,
    as the fast pipeline (DecodeMultiCrop + PackInputs) delivers them."""
    import numpy as np
    import torch
    from mmpretrain.structures import DataSample

    from mte_mm.datasets.transforms import PhotometricRecipe
    np.random.seed(seed)
    g = torch.Generator().manual_seed(seed)
    sizes = [224, 224] + [96] * local_crops
    recipes = [PhotometricRecipe(blur_prob=1.0), PhotometricRecipe(
        blur_prob=0.1, solarize_prob=0.2)] + \
        [PhotometricRecipe(blur_prob=0.5)] * local_crops
    views = [torch.randint(0, 256, (batch, 3, s, s), generator=g,
                           dtype=torch.uint8) for s in sizes]
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_field(torch.from_numpy(np.stack(
            [r.draw() for r in recipes])), 'photometric_params')
        samples.append(sample)
    return dict(inputs=views, data_samples=samples)


def worker(args) -> None:
    import torch
    import mte_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from mte_mm.utils import set_amp
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    cfg = Config.fromfile(os.path.join(REPO, CONFIG))
    model_cfg = cfg.model
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if args.method == 'DINO':
        model_cfg.backbone.num_aux_tokens = 0
        model_cfg.neck.num_pooled_tokens = 0
        model_cfg.distill = None
    if args.compile:
        model_cfg.compile_backbone = True
    if args.amp == 'on':
        set_amp(cfg)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model = model.cuda() if cuda else model
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 1000)
    hub.update_info('epoch', 1)  # last layer not frozen
    data = batch_data(args.batch, args.local_crops)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    base = rss_mb()
    for _ in range(args.warmup):
        model.train_step(data, optim)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.train_step(data, optim)
        sync()
        times.append(time.perf_counter() - start)
    mem = torch.cuda.max_memory_allocated() / 2**20 if cuda \
        else peak_rss_mb() - base
    device = torch.cuda.get_device_name() if cuda else 'CPU'
    print(json.dumps(dict(time=statistics.median(times), mem=mem,
                          device=device, optim=cfg.optim_wrapper.type)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=None,
                        help='per step (default: 64 on a GPU, 2 on CPU)')
    parser.add_argument('--local-crops', type=int, default=8)
    parser.add_argument('--amp', default='auto', choices=['auto', 'on', 'off'],
                        help='mixed precision (auto: on a GPU only)')
    parser.add_argument('--compile', action='store_true',
                        help='model.compile_backbone=True')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--method', default='DINO', help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch
    if args.batch is None:
        args.batch = 64 if torch.cuda.is_available() else 2
    if args.amp == 'auto':
        args.amp = 'on' if torch.cuda.is_available() else 'off'
    if args.worker:
        return worker(args)
    results = {m: [] for m in METHODS}
    for r in range(args.rounds):
        for method in METHODS:
            out = run_worker(__file__, [
                '--worker', '--method', method, '--batch', args.batch,
                '--local-crops', args.local_crops, '--steps', args.steps,
                '--warmup', args.warmup, '--amp', args.amp,
                *(['--compile'] if args.compile else [])])
            results[method].append(out)
            print(f'round {r + 1}/{args.rounds} {method}: {json.dumps(out)}',
                  file=sys.stderr)
    first = results['DINO'][0]
    print(f'{first["device"]}, ViT-S/16, batch {args.batch}, 2 x 224 + '
          f'{args.local_crops} x 96 crops, {first["optim"]}'
          f'{", compiled backbones" if args.compile else ""}; median of '
          f'{args.rounds} rounds x {args.steps} steps')
    print('| method | step (s) | images/s | peak memory (MB) |\n|---|---|---|---|')
    rows = {}
    for method in METHODS:
        t = statistics.median(m['time'] for m in results[method])
        mem = statistics.median(m['mem'] for m in results[method])
        rows[method] = (t, mem)
        print(f'| {method} | {t:.3f} | {args.batch / t:.3g} | {mem:.0f} |')
    (t0, m0), (t1, m1) = rows['DINO'], rows['MTE-DINO']
    print(f'| MTE-DINO / DINO | {t1 / t0:.2f}x | {t0 / t1:.2f}x | '
          f'{m1 / m0:.2f}x |')


if __name__ == '__main__':
    main()
