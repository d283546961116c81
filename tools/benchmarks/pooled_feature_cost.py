"""Inference cost of the pooled-feature export (``export_backbone.py
--pooled``, :class:`AttentionPooledViT`) over the plain ViT it extends:
forward time measured side by side (interleaved rounds, same weights, same
batch) and the multiply-adds of the attention pooling by count.

    python tools/benchmarks/pooled_feature_cost.py [--arch deit-small]
        [--img-size 224] [--patch-size 16] [--pooled 4] [--batch 8]
        [--rounds 5]

The plain ViT returns the CLS token (``out_type='cls_token'``), the export
the pooled feature (``out_type='pooled'``): the two an image feature costs.
"""
import argparse
import statistics
import time

import mte_mm  # noqa: F401  (registries)
import torch
from mmpretrain.models import VisionTransformer

from mte_mm.models.backbones import AttentionPooledViT


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='deit-small')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--pooled', type=int, default=4, help='K')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--rounds', type=int, default=5)
    return parser.parse_args(argv)


def pooling_macs(num_patches: int, dims: int, num_pooled: int) -> int:
    """Key projection of the queries (K C^2, once per batch: counted for a
    batch of one), scores and weighted sum (2 K P C)."""
    return num_pooled * dims * dims + 2 * num_pooled * num_patches * dims


def vit_macs(num_tokens: int, dims: int, layers: int, hidden: int) -> int:
    """Per block: qkv + output projection (4 T C^2), attention (2 T^2 C),
    MLP (2 T C H); the patch embedding is left out (the same in both)."""
    per_block = 4 * num_tokens * dims * dims + 2 * num_tokens ** 2 * dims + \
        2 * num_tokens * dims * hidden
    return layers * per_block


@torch.no_grad()
def main(argv=None):
    args = parse_args(argv)
    common = dict(arch=args.arch, img_size=args.img_size,
                  patch_size=args.patch_size)
    torch.manual_seed(0)
    pooled = AttentionPooledViT(num_pooled_tokens=args.pooled, **common)
    plain = VisionTransformer(out_type='cls_token', **common)
    plain.load_state_dict({k: v for k, v in pooled.state_dict().items()
                           if not k.startswith('pooling.')})
    pooled.eval()
    plain.eval()
    x = torch.randn(args.batch, 3, args.img_size, args.img_size)
    times = dict(plain=[], pooled=[])
    for model in (plain, pooled):  # warm-up
        model(x)
    for _ in range(args.rounds):
        for name, model in (('plain', plain), ('pooled', pooled)):
            start = time.perf_counter()
            model(x)
            times[name].append(time.perf_counter() - start)
    plain_s = statistics.median(times['plain'])
    pooled_s = statistics.median(times['pooled'])
    dims = pooled.embed_dims
    patches = (args.img_size // args.patch_size) ** 2
    hidden = pooled.layers[0].ffn.layers[0][0].out_features
    base = vit_macs(patches + 1, dims, len(pooled.layers), hidden)
    extra = pooling_macs(patches, dims, args.pooled)
    print(f'{args.arch}, {args.img_size} px, patch {args.patch_size}, '
          f'K = {args.pooled}, batch {args.batch}, {torch.get_num_threads()} '
          f'CPU threads, median of {args.rounds} rounds')
    print(f'plain ViT (CLS feature): {plain_s * 1e3:.1f} ms / batch')
    print(f'AttentionPooledViT (pooled feature): {pooled_s * 1e3:.1f} ms / '
          f'batch')
    print(f'time ratio pooled / plain: {pooled_s / plain_s:.3f}x')
    print(f'multiply-adds per image: ViT blocks {base / 1e9:.2f} G, pooling '
          f'{extra / 1e6:.1f} M ({100 * extra / base:.2f} %)')


if __name__ == '__main__':
    main()
