"""Weighted kNN (DINO protocol) of an untrained network: the baseline a paired
study's trained runs should beat. The model is built by mmengine's Runner from
the config at each seed and initialised as a training run starts, so at the
same seed it holds the initial weights of that run of
``tools/benchmarks/compare_methods.py``.

    python tools/benchmarks/untrained_knn.py CONFIG --data-root FOLDER \\
        --seeds 0 1 2 [--resize 16 --crop 16] [--ks 20 10] \\
        [--cfg-options KEY=VALUE ...]

Prints one line per seed: ``seed S: k=20 A, k=10 B`` (the global token's
top-1 %, teacher features); with ``--pixels`` first the other control,
``raw pixels: k=20 A, k=10 B`` (the images at ``--resize`` / ``--crop``,
flattened, through the same kNN; ``--seeds`` may then be omitted). ``tools/benchmarks/compare_methods.py`` reports
the same control beside its arms (``mte_mm.evaluation.controls``).
"""
import argparse
import os.path as osp

from mmengine.config import DictAction


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--data-root', required=True,
                        help='folder with train/<class>/* and val/<class>/*')
    parser.add_argument('--seeds', type=int, nargs='+', default=[])
    parser.add_argument('--pixels', action='store_true',
                        help='also the raw-pixel control')
    parser.add_argument('--ks', type=int, nargs='+', default=[20, 10])
    parser.add_argument('--resize', type=int, default=256)
    parser.add_argument('--crop', type=int, default=224)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, metavar='KEY=VALUE')
    args = parser.parse_args(argv)
    if not args.seeds and not args.pixels:
        parser.error('give --seeds, --pixels or both')
    if not osp.isdir(osp.join(args.data_root, 'val')):
        raise SystemExit(f'untrained_knn.py: --data-root {args.data_root} '
                         'has no val/ folder')

    import mte_mm  # noqa: F401  (compat shims + registries)
    from mmengine.config import Config

    from mte_mm.evaluation import build_knn_datasets
    from mte_mm.evaluation.controls import pixel_knn, untrained_knn
    train, val = build_knn_datasets(data_root=args.data_root,
                                    resize=args.resize, crop=args.crop)
    if args.pixels:
        result = pixel_knn(train, val, ks=args.ks)
        print('raw pixels: ' + ', '.join(f'k={k} {result[k]:.2f}'
                                         for k in args.ks), flush=True)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    for seed in args.seeds:
        result = untrained_knn(cfg, seed, train, val, ks=args.ks)
        print(f'seed {seed}: ' + ', '.join(f'k={k} {result[k]:.2f}'
                                           for k in args.ks), flush=True)


if __name__ == '__main__':
    main()
