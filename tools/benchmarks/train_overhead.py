"""Training overhead of MTE over its base method: MTE-DINO vs DINO,
MTE-MoCo v3 vs MoCo v3 and MTE-iBOT vs iBOT at ViT-S/16, MTE-DINO vs DINO on
ConvNeXt-T and Swin-T, and MTE-BYOL / SimSiam / Barlow Twins vs mmpretrain's
recipes on ResNet-50, step time and peak memory with the real crop sizes
(DINO, ConvNeXt, Swin: 2 x 224 global + L x 96 local crops, L = 8; iBOT:
L = 10 and iBOT block masks on the global crops; MoCo v3, BYOL, SimSiam,
Barlow Twins: 2 x 224), small batch, on this machine's CPU.

Every measurement is a fresh worker process (so its peak RSS is its own),
and the settings are interleaved round by round, so slow drift of the machine
hits all of them alike. Step = teacher EMA update + forward + backward +
optimizer step, through the real model built from the method's config
(CONFIGS below). Memory = peak RSS over all steps minus the RSS before the
first step (what training adds: activations, logits, gradients, optimizer
state).

    python tools/benchmarks/train_overhead.py
        [--methods dino mocov3 ibot convnext swin byol simsiam barlowtwins]
        [--batch 2] [--local-crops L] [--aux-loss-views all global]
        [--settings 0,0 1,1 4,4 8,8] [--resnet-settings 0,4]
        [--rounds 2] [--steps 3] [--cfg-options KEY=VALUE ...]

Prints, for each method and (N, K), the median time and memory and their
ratios to the method's baseline (N = K = 0, no distillation). Target for the
defaults (ViT: N = K = 4; ConvNeXt / Swin / ResNet-50: N = 0, K = 4):
<= 1.10x time and <= 1.10x memory.
"""
import argparse
import json
import os
import statistics
import sys
import time

from _measure import REPO, peak_rss_mb, rss_mb, run_worker

CONFIGS = dict(dino='configs/mte_dino_vits.py',
               mocov3='configs/mte_mocov3_vits.py',
               ibot='configs/mte_ibot_vits.py',
               convnext='configs/mte_dino_convnext_tiny.py',
               swin='configs/mte_dino_swin_tiny.py',
               byol='configs/mte_byol_resnet50.py',
               simsiam='configs/mte_simsiam_resnet50.py',
               barlowtwins='configs/mte_barlowtwins_resnet50.py')
BASELINE_NAMES = dict(dino='DINO', mocov3='MoCo v3', ibot='iBOT',
                      convnext='DINO ConvNeXt-T', swin='DINO Swin-T',
                      byol='BYOL R-50', simsiam='SimSiam R-50',
                      barlowtwins='Barlow Twins R-50')
LOCAL_CROPS = dict(dino=8, mocov3=0, ibot=10, convnext=8, swin=8, byol=0,
                   simsiam=0, barlowtwins=0)
# two views, no DINO options, ResNet-50 (N = 0, K = 4 by default)
TWO_VIEW = ('mocov3', 'byol', 'simsiam', 'barlowtwins')
RESNET = ('byol', 'simsiam', 'barlowtwins')


def ibot_samples(batch, num_local, seed=0):
    """data_samples with iBOT block masks per crop (the recipe's ratios), as
    PackInputs(algorithm_keys=['masks']) packs them."""
    import numpy as np
    from mmpretrain.structures import DataSample
    from mte_mm.datasets.transforms.ibot_masks import IBOTBlockMasks
    np.random.seed(seed)
    crops = [np.zeros((224, 224, 3), np.uint8)] * 2 + \
        [np.zeros((96, 96, 3), np.uint8)] * num_local
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_field(IBOTBlockMasks()(dict(img=crops))['masks'], 'masks')
        samples.append(sample)
    return samples


def worker(args) -> None:
    import torch
    import mte_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    from mmengine.registry import init_default_scope
    torch.manual_seed(0)
    cfg = Config.fromfile(os.path.join(REPO, CONFIGS[args.method]))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))  # LARS
    if args.cfg_options:  # the same overrides for every setting
        cfg.merge_from_dict(dict(o.split('=', 1) for o in args.cfg_options))
    model_cfg = cfg.model
    model_cfg.backbone.num_aux_tokens = args.num_aux
    model_cfg.neck.num_pooled_tokens = args.num_pooled
    if args.method not in TWO_VIEW:
        model_cfg.aux_loss_views = args.aux_loss_views[0]
    elif args.method == 'mocov3':
        # one process: plain BatchNorm (the recipe's SyncBN needs a group)
        model_cfg.neck.projector.norm_cfg = dict(type='BN1d')
        model_cfg.head.predictor.norm_cfg = dict(type='BN1d')
    else:
        model_cfg.backbone.backbone.norm_cfg = dict(type='BN')
    if args.num_aux == args.num_pooled == 0:
        model_cfg.distill = None
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 1000)
    hub.update_info('epoch', 1)  # last layer not frozen
    g = torch.Generator().manual_seed(0)
    local_crops = 0 if args.method in TWO_VIEW else \
        LOCAL_CROPS[args.method] if args.local_crops is None \
        else args.local_crops
    views = ([torch.randn(args.batch, 3, 224, 224, generator=g)
              for _ in range(2)] +
             [torch.randn(args.batch, 3, 96, 96, generator=g)
              for _ in range(local_crops)])
    samples = ibot_samples(args.batch, local_crops) \
        if args.method == 'ibot' else None

    def step():
        losses = model.loss(views, samples)
        optim.update_params(sum(losses.values()))

    base = rss_mb()  # model, inputs and interpreter, before any step
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = peak_rss_mb()
    print(json.dumps(dict(time=statistics.median(times), mem=peak - base,
                          peak_rss=peak)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--local-crops', type=int, default=None,
                        help='local crops for DINO and iBOT (default: '
                        'their recipes, 8 and 10)')
    parser.add_argument('--settings', nargs='+', default=['0,0', '1,1', '4,4',
                                                          '8,8'],
                        help='N,K pairs; 0,0 is the DINO baseline')
    parser.add_argument('--resnet-settings', nargs='+', default=['0,4'],
                        help='N,K pairs of the ResNet-50 methods')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--aux-loss-views', nargs='+', default=['all', 'global'],
                        choices=['all', 'global'],
                        help="aux_loss_views settings to measure (DINO; "
                        "iBOT measures the first)")
    parser.add_argument('--methods', nargs='+', default=['dino', 'mocov3'],
                        choices=list(CONFIGS))
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value config overrides (strings) for every '
                        'setting, e.g. model.head.cross_correlation=gram')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--method', default='dino', help=argparse.SUPPRESS)
    parser.add_argument('--num-aux', type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument('--num-pooled', type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    def parse(values):
        return [tuple(int(v) for v in s.split(',')) for s in values]

    settings = []  # (method, N, K, aux_loss_views); baselines first
    for method in args.methods:
        pairs = parse(args.resnet_settings if method in RESNET
                      else args.settings)
        views = args.aux_loss_views if method == 'dino' else ['-'] \
            if method in TWO_VIEW else args.aux_loss_views[-1:]
        settings.append((method, 0, 0, views[0]))
        settings += [(method, n, k, v) for n, k in pairs if (n, k) != (0, 0)
                     for v in views]
    results = {s: [] for s in settings}
    for r in range(args.rounds):
        for method, n, k, views in settings:
            out = run_worker(__file__, [
                '--worker', '--method', method, '--num-aux', n,
                '--num-pooled', k, '--batch', args.batch, *(
                    [] if args.local_crops is None else
                    ['--local-crops', args.local_crops]), '--aux-loss-views',
                views if views != '-' else 'global', '--steps', args.steps,
                '--warmup', args.warmup, *(
                    ['--cfg-options', *args.cfg_options]
                    if args.cfg_options else [])])
            results[(method, n, k, views)].append(out)
            print(f'round {r + 1}/{args.rounds} {method} N={n} K={k} '
                  f'{views}: {json.dumps(out)}', file=sys.stderr)

    def num_local(method):
        return 0 if method in TWO_VIEW else LOCAL_CROPS[method] \
            if args.local_crops is None else args.local_crops

    def median(s, key):
        return statistics.median(m[key] for m in results[s])

    print(f'batch {args.batch}, {args.rounds} rounds x '
          f'{args.steps} steps, CPU threads '
          f'{os.environ.get("OMP_NUM_THREADS", "default")}; crops 2x224 + '
          + ', '.join(f'{num_local(m)}x96 ({BASELINE_NAMES[m]})'
                      for m in args.methods))
    print(f'{"setting":<42}{"step s":>9}{"time x":>8}{"step MB":>10}'
          f'{"mem x":>8}')
    for method in args.methods:
        rows = [s for s in settings if s[0] == method]
        base_t, base_m = median(rows[0], 'time'), median(rows[0], 'mem')
        for s in rows:
            name = BASELINE_NAMES[method] if s == rows[0] else \
                f'MTE-{BASELINE_NAMES[method]} N={s[1]} K={s[2]}' + (
                    f' aux_loss_views={s[3]}' if method == 'dino' else '')
            t, m = median(s, 'time'), median(s, 'mem')
            print(f'{name:<42}{t:>9.3f}{t / base_t:>8.3f}{m:>10.1f}'
                  f'{m / base_m:>8.3f}')


if __name__ == '__main__':
    main()
