"""Auxiliary-token attention of MTE (arXiv 2411.15787): the mask-free path
(unmasked fused attention over the main keys, merged with each token's own
key by log-sum-exp, :func:`mte_mm.models.layers.aux_attention`) against the
dense ``N x (L+N)`` additive mask it replaced, forward + backward, measured
side by side, interleaved, at ViT-S/16 shapes (L = 197 main tokens, 6 heads
of 64) on this machine's CPU and on the GPU when there is one: the
auxiliary path alone, and a whole one-way ViT-S block (what a training step
pays).

    python tools/benchmarks/aux_attention.py [--batch 16] [--aux 4]
        [--rounds 5] [--steps 3]

Prints the median time per call of each and their ratio (mask / mask-free),
and the largest difference of their outputs.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
from mte_mm.models.layers import aux_token_attention  # noqa: E402
from mte_mm.models.layers.aux_token_attention import (  # noqa: E402
    aux_attention, aux_key_mask)

# default path: masked on CPU, mask-free on CUDA (see aux_attention)


def masked(q, k, v, num_main, dropout_p=0.):
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=aux_key_mask(num_main, q.shape[2], q))


def mask_free(q, k, v, num_main, dropout_p=0.):
    return aux_attention(q, k, v, num_main, mask_free=True)


def timed(fn, q, k, v, num_main, steps, sync):
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(q, k, v, num_main)
        out.sum().backward()
    sync()
    return (time.perf_counter() - start) / steps


def block_with(aux_path, layer):
    """The one-way block with the given auxiliary path (the module's
    function swapped for the call: the benchmark's only way to run the
    old path through the same block)."""
    def run(x_main, x_aux):
        saved = aux_token_attention.aux_attention
        aux_token_attention.aux_attention = aux_path
        try:
            main_out, aux_out = aux_token_attention.one_way_block(
                layer, x_main, x_aux)
        finally:
            aux_token_attention.aux_attention = saved
        return main_out.sum() + aux_out.sum()
    return run


def timed_block(run, x_main, x_aux, steps, sync):
    start = time.perf_counter()
    for _ in range(steps):
        run(x_main, x_aux).backward()
    sync()
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--aux', type=int, default=4)
    parser.add_argument('--main-tokens', type=int, default=197)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--steps', type=int, default=3)
    args = parser.parse_args(argv)
    devices = [('cpu', torch.float32)]
    if torch.cuda.is_available():
        devices += [('cuda', torch.float32), ('cuda', torch.bfloat16)]
    print(f'batch {args.batch}, {args.main_tokens} main + {args.aux} '
          'auxiliary tokens, 6 heads x 64, forward + backward, median of '
          f'{args.rounds} interleaved rounds of {args.steps} calls')
    print('| device | dtype | what | dense mask (ms) | mask-free (ms) | '
          'mask / mask-free | max abs diff |\n|---|---|---|---|---|---|---|')
    for device, dtype in devices:
        torch.manual_seed(0)
        num_main = args.main_tokens
        shape = (args.batch, 6, num_main + args.aux, 64)
        k, v = (torch.randn(shape, device=device, dtype=dtype,
                            requires_grad=True) for _ in range(2))
        q = torch.randn(args.batch, 6, args.aux, 64, device=device,
                        dtype=dtype, requires_grad=True)
        sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
        with torch.no_grad():
            diff = float((mask_free(q, k, v, num_main).float()
                          - masked(q, k, v, num_main).float()).abs().max())
        times = {'mask': [], 'free': []}
        for fn in (masked, mask_free):  # warm-up
            timed(fn, q, k, v, num_main, 2, sync)
        for _ in range(args.rounds):
            times['mask'].append(timed(masked, q, k, v, num_main, args.steps,
                                       sync))
            times['free'].append(timed(mask_free, q, k, v, num_main,
                                       args.steps, sync))
        mask_ms = statistics.median(times['mask']) * 1e3
        free_ms = statistics.median(times['free']) * 1e3
        name = torch.cuda.get_device_name() if device == 'cuda' else 'CPU'
        kind = str(dtype).split('.')[1]
        print(f'| {name} | {kind} | auxiliary path | {mask_ms:.2f} | '
              f'{free_ms:.2f} | {mask_ms / free_ms:.2f}x | {diff:.1e} |')
        from mmpretrain.models.backbones.vision_transformer import \
            TransformerEncoderLayer
        layer = TransformerEncoderLayer(384, 6, 1536).to(device, dtype)
        x_main = torch.randn(args.batch, num_main, 384, device=device,
                             dtype=dtype, requires_grad=True)
        x_aux = torch.randn(args.batch, args.aux, 384, device=device,
                            dtype=dtype, requires_grad=True)
        runs = dict(mask=block_with(masked, layer),
                    free=block_with(mask_free, layer))
        with torch.no_grad():
            diff = float((runs['mask'](x_main, x_aux)
                          - runs['free'](x_main, x_aux)).abs())
        times = {'mask': [], 'free': []}
        for run in runs.values():
            timed_block(run, x_main, x_aux, 1, sync)
        for _ in range(args.rounds):
            for key, run in runs.items():
                times[key].append(timed_block(run, x_main, x_aux, args.steps,
                                              sync))
        mask_ms = statistics.median(times['mask']) * 1e3
        free_ms = statistics.median(times['free']) * 1e3
        print(f'| {name} | {kind} | one-way ViT-S block | {mask_ms:.2f} | '
              f'{free_ms:.2f} | {mask_ms / free_ms:.2f}x | {diff:.1e} (sum) |')


if __name__ == '__main__':
    main()
