"""Slot diagnostics of a pretrained MTE checkpoint: how each auxiliary and
pooled token differs from the global token, and what their ensemble adds
over it (Multi-Token Enhancing, arXiv 2411.15787).

    python tools/analyze_slots.py CONFIG CHECKPOINT --data-root FOLDER \\
        [--resize 32 --crop 32] [--ks 20 10] [--out slots.json]

FOLDER holds ``train/<class>/*`` (the kNN bank) and ``val/<class>/*`` (kNN
queries and the images the slot statistics are measured on). Prints the kNN
table of every token kind, then per slot the cosine of its features to the
global token's, the arg-max agreement and Jensen-Shannon divergence of its
teacher distribution to the global slot's (MoCo v3: the cosine of the keys),
the similarity among the slots of a kind, and the ensemble gain (ensemble
kNN minus the global token's, and minus its members' mean). ``--out``
writes everything as JSON (atomically).
"""
import argparse
import os.path as osp
import sys

import mte_mm  # noqa: F401  (compat shims + registries)
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from mte_mm.evaluation import (build_knn_datasets, format_diagnostics,
                               format_knn_table, knn_diagnostics,
                               slot_diagnostics)
from mte_mm.utils import DataRootError, check_knn_root, load_config
from mte_mm.utils.atomic import atomic_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Slot diagnostics of an MTE checkpoint (mte_mm)')
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('checkpoint', help='a checkpoint of that config')
    parser.add_argument('--data-root', required=True,
                        help='folder with train/<class>/* and val/<class>/*')
    parser.add_argument('--source', default='teacher',
                        choices=['teacher', 'student'])
    parser.add_argument('--ks', type=int, nargs='+', default=[20, 10])
    parser.add_argument('--resize', type=int, default=256)
    parser.add_argument('--crop', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--out', help='JSON file for the results')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:  # one line before any model is built
        check_knn_root(args.data_root, '--data-root')
    except DataRootError as exc:
        print(f'tools/analyze_slots.py: {exc}', file=sys.stderr)
        raise SystemExit(1)
    if not osp.isfile(args.checkpoint):
        print(f'tools/analyze_slots.py: no checkpoint at {args.checkpoint}',
              file=sys.stderr)
        raise SystemExit(1)
    cfg = load_config(args.config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    if cfg.get('data_preprocessor') is not None:  # as the Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    if not hasattr(model, 'layout'):
        print(f'tools/analyze_slots.py: {args.config} builds '
              f'{type(model).__name__}, not an MTE model', file=sys.stderr)
        raise SystemExit(1)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    if torch.cuda.is_available():
        model = model.cuda()
    train_set, val_set = build_knn_datasets(args.data_root,
                                            resize=args.resize,
                                            crop=args.crop)
    common = dict(source=args.source, batch_size=args.batch_size,
                  num_workers=args.num_workers)
    knn = knn_diagnostics(model, train_set, val_set, with_aux=True,
                          ks=args.ks, **common)
    diagnostics = slot_diagnostics(model, val_set, knn=knn, **common)
    print(f'weighted kNN top-1 (%), {args.source} features, '
          f'{len(train_set)} train / {len(val_set)} val images')
    print(format_knn_table(knn))
    print(f'slot diagnostics on the {len(val_set)} val images')
    print(format_diagnostics(diagnostics))
    if args.out:
        record = dict(
            knn={name: {str(k): v for k, v in accs.items()}
                 for name, accs in knn.items()},
            slots=diagnostics['slots'],
            ensemble_gain={vs: {str(k): v for k, v in per_k.items()}
                           for vs, per_k in
                           diagnostics['ensemble_gain'].items()},
            ensemble_members=list(model.ensemble_kinds))
        atomic_json(args.out, record)
    return knn, diagnostics


if __name__ == '__main__':
    main()
