"""Train any config that uses mte_mm (pretraining, mmpretrain, mmdet or mmseg).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
    bash tools/dist_train.sh CONFIG NUM_PROCS [...]   # launcher=pytorch

On a machine without CUDA the pytorch launcher runs on gloo (see
``mte_mm.utils.prepare_cpu_distributed``).
"""
import argparse
import os.path as osp
import sys

import mte_mm  # noqa: F401  (compat shims + registries, before the config)
import torch
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mte_mm.engine.hooks import NonFiniteLossError
from mte_mm.utils import (DataRootError, add_launch_args, check_data_roots,
                          destroy_distributed, exit_after_cpu_distributed,
                          load_config, parse_launch_args,
                          prepare_cpu_distributed, set_amp)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (mte_mm)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume', nargs='?', const='auto',
        help='resume from this checkpoint, or (no value) from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision: on CUDA mmengine\'s '
                        'AmpOptimWrapper (bfloat16 where the GPU supports '
                        'it, else float16 with dynamic loss scaling), on CPU '
                        'bfloat16 autocast (AutocastOptimWrapper)')
    parser.add_argument('--amp-dtype', default='auto',
                        choices=['auto', 'bfloat16', 'float16'],
                        help='the --amp type (auto: as above)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the backbones (student and '
                        'teacher): model.compile_backbone=True')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by actual / base batch size')
    parser.add_argument('--check-data', action='store_true',
                        help='only check that the data the config names '
                        'exists, then exit (tools/dist_train.sh runs this '
                        'once before it starts the processes)')
    add_launch_args(parser)
    return parse_launch_args(parser, argv)


def check_compilable(cfg) -> None:
    """``--compile`` is an option of our pretraining algorithms."""
    from mmpretrain.registry import MODELS

    from mte_mm.models.algorithms.base_mte import BaseMTESelfSupervisor
    model_type = cfg.model.get('type')
    cls = MODELS.get(model_type) if isinstance(model_type, str) else None
    if cls is None or not issubclass(cls, BaseMTESelfSupervisor):
        raise SystemExit(f'tools/train.py: --compile compiles the backbones '
                         f'of mte_mm pretraining models; model.type='
                         f'{model_type!r} is not one')


def merge_args(cfg, args):
    """Apply command-line options to the config (as mmpretrain's tool does)."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        try:
            set_amp(cfg, args.amp_dtype)
        except ValueError as exc:
            raise SystemExit(f'tools/train.py: {exc}')
    if args.compile:
        check_compilable(cfg)
        cfg.model.compile_backbone = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume: no checkpoint at {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(f'--auto-scale-lr: {args.config} has no '
                           '`auto_scale_lr` (base_batch_size) to scale from')
        cfg.auto_scale_lr.enable = True
    return cfg


def train(cfg) -> None:
    runner = (Runner.from_cfg(cfg) if 'runner_type' not in cfg
              else RUNNERS.build(cfg))
    runner.train()


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(load_config(args.config, args.cfg_options), args)
    try:  # one line before any process builds a model
        check_data_roots(cfg, ('train_dataloader', 'val_dataloader')
                         if cfg.get('val_cfg') else ('train_dataloader', ))
    except DataRootError as exc:
        print(f'tools/train.py: {args.config}: {exc}', file=sys.stderr)
        raise SystemExit(1)
    if args.check_data:
        return
    prepare_cpu_distributed(cfg, args.launcher)
    try:
        # the Runner (and its DDP wrapper, which holds the process group) is
        # freed when train() returns, before the group is destroyed
        train(cfg)
    except NonFiniteLossError as exc:  # one line, not a traceback
        print(f'tools/train.py: {exc}', file=sys.stderr, flush=True)
        raise SystemExit(1)
    finally:
        destroy_distributed()


if __name__ == '__main__':
    main()
    exit_after_cpu_distributed()
