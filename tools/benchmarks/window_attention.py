"""Cost of the detection backbone with ViTDet window attention vs global
attention in every block: one forward + backward of the Mask R-CNN recipe's
backbone (configs/det/mask_rcnn_mte_vit{s,b}_sfp_lsj_100e_coco.py) at the
recipe's 1024 px input, on this machine's CPU.

Every measurement is a fresh worker process (its peak RSS is its own); the
two settings alternate round by round. Memory = peak RSS during the step
minus the RSS before it (activations and gradients).

    python tools/benchmarks/window_attention.py [--arch s|b] [--size 1024]
        [--rounds 2]

Prints the median time and memory of each setting and the window / global
ratios. Target: time < 1x. Memory stays about equal: the fused
``scaled_dot_product_attention`` never materialises the global N x N matrix,
and windows add the padding.
"""
import argparse
import json
import os
import statistics
import time

from _measure import REPO, peak_rss_mb, rss_mb, run_worker


def worker(args) -> None:
    import torch
    import mte_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS

    torch.manual_seed(0)
    cfg = Config.fromfile(os.path.join(
        REPO, f'configs/det/mask_rcnn_mte_vit{args.arch}_sfp_lsj_100e_coco.py'))
    backbone = cfg.model.backbone
    backbone.init_cfg = None
    if args.setting == 'global':
        backbone.window_size, backbone.global_attn_indices = 0, []
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(backbone)
    model.train()
    images = torch.randn(1, 3, args.size, args.size)
    base = rss_mb()
    start = time.perf_counter()
    sum(out.float().mean() for out in model(images)).backward()
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    print(json.dumps(dict(seconds=seconds, memory_mb=peak - base)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', choices=['s', 'b'], default='s')
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--setting', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setting:
        return worker(args)
    results = {'window': [], 'global': []}
    for _ in range(args.rounds):
        for setting in results:
            results[setting].append(run_worker(__file__, [
                '--arch', args.arch, '--size', args.size, '--setting',
                setting]))
    median = {s: {k: statistics.median(r[k] for r in runs)
                  for k in ('seconds', 'memory_mb')}
              for s, runs in results.items()}
    print(f'ViT-{args.arch.upper()}/16 backbone, {args.size} px, batch 1, '
          f'forward + backward, median of {args.rounds}')
    for setting, m in median.items():
        print(f'  {setting:6s}  {m["seconds"]:7.2f} s  '
              f'{m["memory_mb"]:8.0f} MB')
    print(f'  window / global: time '
          f'{median["window"]["seconds"] / median["global"]["seconds"]:.2f}x'
          f', memory '
          f'{median["window"]["memory_mb"] / median["global"]["memory_mb"]:.2f}x')


if __name__ == '__main__':
    main()
