"""Evaluate a checkpoint with any config that uses mte_mm.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [...]
"""
import argparse
import os.path as osp
import sys

import mte_mm  # noqa: F401  (compat shims + registries, before the config)
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mte_mm.utils import (DataRootError, add_launch_args, check_data_roots,
                          destroy_distributed, exit_after_cpu_distributed,
                          load_config, parse_launch_args,
                          prepare_cpu_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a model (mte_mm)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump the metrics to this json/pkl file')
    parser.add_argument('--check-data', action='store_true',
                        help='only check that the data the config names '
                        'exists, then exit (tools/dist_test.sh runs this '
                        'once before it starts the processes)')
    add_launch_args(parser)
    return parse_launch_args(parser, argv)


def test(cfg):
    runner = (Runner.from_cfg(cfg) if 'runner_type' not in cfg
              else RUNNERS.build(cfg))
    return runner.test(), runner.rank


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'no checkpoint at {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0])
    try:  # one line before any process builds a model
        check_data_roots(cfg, ('test_dataloader', ))
    except DataRootError as exc:
        print(f'tools/test.py: {args.config}: {exc}', file=sys.stderr)
        raise SystemExit(1)
    if args.check_data:
        return None
    prepare_cpu_distributed(cfg, args.launcher)
    try:
        # the Runner (and its DDP wrapper, which holds the process group) is
        # freed when test() returns, before the group is destroyed
        metrics, rank = test(cfg)
        if args.out and rank == 0:
            from mmengine.fileio import dump

            from mte_mm.utils.atomic import atomic_path
            with atomic_path(args.out) as tmp:
                dump(metrics, tmp,
                     file_format=osp.splitext(args.out)[1][1:] or 'json')
    finally:
        destroy_distributed()
    return metrics


if __name__ == '__main__':
    main()
    exit_after_cpu_distributed()
