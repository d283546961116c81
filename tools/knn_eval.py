"""Weighted kNN evaluation of a pretrained MTE / DINO checkpoint (DINO
protocol: L2-normalised features, exp(sim / T) voting, T = 0.07,
k in {10, 20, 100, 200}, Resize 256 (bicubic) / CenterCrop 224).

    python tools/knn_eval.py CONFIG CHECKPOINT --data-root data/imagenet \\
        [--source teacher|student] [--tokens global|all] [--out knn.json]
    bash tools/dist_test.sh-style:  python -m torch.distributed.run \\
        --nproc_per_node 8 tools/knn_eval.py ... --launcher pytorch

Prints a table (one row per token kind: global, each auxiliary and pooled
token, and their ensemble) and writes it as JSON (atomically). The memory
bank stays sharded over the processes (each keeps its 1 / world_size of the
train features), and every process prints its bank size and peak memory.

The controls of a study (``mte_mm.evaluation.controls``, what
``tools/analysis_tools/compare_methods.py`` reports beside its arms), in one
process, instead of a checkpoint:

    python tools/knn_eval.py CONFIG --data-root FOLDER \
        [--untrained SEED ...] [--pixels] [--resize 32 --crop 32] [--ks 20 10]

``--untrained``: the global token of the untrained network, built by
mmengine's Runner from the config at each seed and initialised as a training
run starts (so at one seed, the initial weights of that run), one line
``seed S: k=20 A, k=10 B``; ``--pixels``: first the images at ``--resize`` /
``--crop``, flattened, through the same kNN, ``raw pixels: k=20 A, ...``.
"""
import argparse
import os.path as osp
import resource
import sys

import mte_mm  # noqa: F401  (compat shims + registries)
import torch
from mmengine.dist import get_dist_info, init_dist
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from mte_mm.evaluation import (build_knn_datasets, format_knn_table,
                               knn_diagnostics)
from mte_mm.utils.atomic import atomic_json
from mte_mm.utils import (DataRootError, add_launch_args,
                          check_dataset_config, check_knn_root,
                          destroy_distributed, exit_after_cpu_distributed,
                          load_config, parse_launch_args,
                          prepare_cpu_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='kNN evaluation (mte_mm)')
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('checkpoint', nargs='?',
                        help='a checkpoint of that config (none with '
                        '--untrained / --pixels)')
    parser.add_argument('--untrained', type=int, nargs='+', default=[],
                        metavar='SEED', help='the untrained network at these '
                        'seeds instead of a checkpoint')
    parser.add_argument('--pixels', action='store_true',
                        help='the raw-pixel control instead of a checkpoint')
    parser.add_argument(
        '--data-root', help='folder with train/<class>/* and val/<class>/*; '
        'default: the config key knn_data_root, or mmpretrain dataset '
        'configs in the keys knn_train_dataset and knn_val_dataset')
    parser.add_argument('--source', default='teacher',
                        choices=['teacher', 'student'])
    parser.add_argument('--tokens', default='all', choices=['global', 'all'],
                        help='global token only, or every token kind')
    parser.add_argument('--ks', type=int, nargs='+', default=[10, 20, 100, 200])
    parser.add_argument('--temperature', type=float, default=0.07)
    parser.add_argument('--resize', type=int, default=256)
    parser.add_argument('--crop', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--num-workers', type=int, default=4)
    parser.add_argument('--bank-dtype', default='float32',
                        choices=['float32', 'float16'],
                        help='storage of the normalised train features: '
                        'float16 halves the bank and is exactly independent '
                        'of the number of processes; float32 (default) gives '
                        "a float32 search's numbers")
    parser.add_argument('--out', help='JSON file for the results')
    add_launch_args(parser)
    args = parse_launch_args(parser, argv)
    controls = bool(args.untrained or args.pixels)
    if controls == (args.checkpoint is not None):
        parser.error('give a CHECKPOINT, or --untrained SEED ... / --pixels '
                     '(the controls)')
    if controls and (not args.data_root or args.launcher != 'none'):
        parser.error('--untrained / --pixels need --data-root and run in one '
                     'process')
    return args


def evaluate_controls(args, cfg) -> dict:
    """The raw-pixel and untrained-network controls, printed as they come;
    ``{'pixels': {k: acc}, 'untrained': {seed: {k: acc}}}``."""
    from mte_mm.evaluation.controls import pixel_knn, untrained_knn
    train, val = build_knn_datasets(data_root=args.data_root,
                                    resize=args.resize, crop=args.crop)
    results = {}
    if args.pixels:
        results['pixels'] = pixel_knn(train, val, ks=args.ks,
                                      temperature=args.temperature)
        print('raw pixels: ' + ', '.join(
            f'k={k} {results["pixels"][k]:.2f}' for k in args.ks), flush=True)
    for seed in args.untrained:
        accs = untrained_knn(cfg, seed, train, val, ks=args.ks,
                             temperature=args.temperature)
        results.setdefault('untrained', {})[seed] = accs
        print(f'seed {seed}: ' + ', '.join(f'k={k} {accs[k]:.2f}'
                                           for k in args.ks), flush=True)
    if args.out:
        atomic_json(args.out, {name: ({str(k): v for k, v in accs.items()}
                                      if name == 'pixels' else
                                      {str(s): {str(k): v for k, v in
                                                a.items()}
                                       for s, a in accs.items()})
                               for name, accs in results.items()})
    return results


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    data_root = args.data_root or cfg.get('knn_data_root')
    try:  # one line before any process builds a model
        if data_root:
            check_knn_root(data_root, '--data-root' if args.data_root
                           else 'knn_data_root')
        for key in ('knn_train_dataset', 'knn_val_dataset'):
            if not data_root and cfg.get(key):
                check_dataset_config(cfg[key], key)
    except DataRootError as exc:
        print(f'tools/knn_eval.py: {exc}', file=sys.stderr)
        raise SystemExit(1)
    if args.untrained or args.pixels:
        return evaluate_controls(args, cfg)
    if args.launcher != 'none' and not prepare_cpu_distributed(
            cfg, args.launcher):
        init_dist(args.launcher)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    if cfg.get('data_preprocessor') is not None:  # as the Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'no checkpoint at {args.checkpoint}')
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    if torch.cuda.is_available():
        model = model.cuda()
    train_set, val_set = build_knn_datasets(
        data_root,
        train=None if data_root else cfg.get('knn_train_dataset'),
        val=None if data_root else cfg.get('knn_val_dataset'),
        resize=args.resize, crop=args.crop)
    memory = {}
    results = knn_diagnostics(
        model, train_set, val_set, source=args.source,
        with_aux=args.tokens == 'all', ks=args.ks,
        temperature=args.temperature, batch_size=args.batch_size,
        num_workers=args.num_workers,
        bank_dtype=getattr(torch, args.bank_dtype), memory=memory)
    rank, world_size = get_dist_info()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available():
        peak_gpu = f', peak GPU memory ' \
            f'{torch.cuda.max_memory_allocated() / 2**20:.1f} MB'
    else:
        peak_gpu = ''
    print(f'kNN memory, process {rank} of {world_size}: bank '
          f'{memory["bank_bytes"]} bytes ({args.bank_dtype}, '
          f'{memory["bank_bytes"] / 2**20:.1f} MB; every kind of the whole '
          f'bank in float32 in one process: '
          f'{memory["bank_bytes_full"] / 2**20:.1f} MB), peak RSS '
          f'{peak:.1f} MB{peak_gpu}', flush=True)
    if rank == 0:
        print(f'weighted kNN top-1 (%), {args.source} features, '
              f'T={args.temperature}, {len(train_set)} train / '
              f'{len(val_set)} val images')
        print(format_knn_table(results))
        if args.out:
            atomic_json(args.out, {name: {str(k): v for k, v in accs.items()}
                                   for name, accs in results.items()})
    return results


if __name__ == '__main__':
    try:
        main()
    finally:
        destroy_distributed()
    exit_after_cpu_distributed()
