"""Training overhead of MTE-DINO over DINO: step time and peak memory at
ViT-S/16 with the real crop sizes (2 x 224 global + L x 96 local crops), small
batch, on this machine's CPU.

Every measurement is a fresh worker process (so its peak RSS is its own),
and the settings are interleaved round by round, so slow drift of the machine
hits all of them alike. Step = teacher EMA update + forward + backward +
AdamW step, through the real model built from configs/mte_dino_vits.py.
Memory = peak RSS over all steps minus the RSS before the first step (what
training adds: activations, logits, gradients, optimizer state).

    python tools/benchmarks/train_overhead.py [--batch 2] [--local-crops 8]
        [--aux-loss-views all global]
        [--settings 0,0 1,1 4,4 8,8] [--rounds 2] [--steps 3]

Prints, for each (N, K), the median time and memory and their ratios to the
DINO baseline (N = K = 0, no distillation). Target for the default N = K = 4:
<= 1.10x time and <= 1.10x memory.
"""
import argparse
import json
import os
import statistics
import sys
import time

from _measure import REPO, peak_rss_mb, rss_mb, run_worker


def worker(args) -> None:
    import torch
    import mte_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS

    torch.manual_seed(0)
    cfg = Config.fromfile(os.path.join(REPO, 'configs/mte_dino_vits.py'))
    model_cfg = cfg.model
    model_cfg.backbone.num_aux_tokens = args.num_aux
    model_cfg.backbone.num_pooled_tokens = args.num_pooled
    model_cfg.aux_loss_views = args.aux_loss_views[0]
    if args.num_aux == args.num_pooled == 0:
        model_cfg.distill_weight = 0.0
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 1000)
    hub.update_info('epoch', 1)  # last layer not frozen
    g = torch.Generator().manual_seed(0)
    views = ([torch.randn(args.batch, 3, 224, 224, generator=g)
              for _ in range(2)] +
             [torch.randn(args.batch, 3, 96, 96, generator=g)
              for _ in range(args.local_crops)])

    def step():
        losses = model.loss(views, None)
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
    parser.add_argument('--local-crops', type=int, default=8)
    parser.add_argument('--settings', nargs='+', default=['0,0', '1,1', '4,4',
                                                          '8,8'],
                        help='N,K pairs; 0,0 is the DINO baseline')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--aux-loss-views', nargs='+', default=['all', 'global'],
                        choices=['all', 'global'],
                        help="MTEDINO.aux_loss_views settings to measure")
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--num-aux', type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument('--num-pooled', type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    pairs = [tuple(int(v) for v in s.split(',')) for s in args.settings]
    settings = [(0, 0, 'all')] + [(n, k, views) for n, k in pairs
                                  if (n, k) != (0, 0)
                                  for views in args.aux_loss_views]
    results = {s: [] for s in settings}
    for r in range(args.rounds):
        for n, k, views in settings:
            out = run_worker(__file__, [
                '--worker', '--num-aux', n, '--num-pooled', k, '--batch',
                args.batch, '--local-crops', args.local_crops,
                '--aux-loss-views', views, '--steps', args.steps, '--warmup',
                args.warmup])
            results[(n, k, views)].append(out)
            print(f'round {r + 1}/{args.rounds} N={n} K={k} {views}: '
                  f'{json.dumps(out)}', file=sys.stderr)

    def median(s, key):
        return statistics.median(m[key] for m in results[s])

    base_t, base_m = median(settings[0], 'time'), median(settings[0], 'mem')
    print(f'ViT-S/16, batch {args.batch}, 2x224 + {args.local_crops}x96 crops, '
          f'{args.rounds} rounds x {args.steps} steps, CPU threads '
          f'{os.environ.get("OMP_NUM_THREADS", "default")}')
    print(f'{"setting":<30}{"step s":>9}{"time x":>8}{"step MB":>10}'
          f'{"mem x":>8}')
    for s in settings:
        name = 'DINO' if s == settings[0] else \
            f'MTE N={s[0]} K={s[1]} aux_loss_views={s[2]}'
        t, m = median(s, 'time'), median(s, 'mem')
        print(f'{name:<30}{t:>9.3f}{t / base_t:>8.3f}{m:>10.1f}'
              f'{m / base_m:>8.3f}')


if __name__ == '__main__':
    main()
