"""CPU demo: pretrain MTE-DINO on scikit-learn's digits with a tiny ViT and
report weighted-kNN top-1 (DINO protocol: L2-normalised teacher global-token
features, exp(sim / 0.07) voting) before and after training.

    python tools/demo.py [--config configs/demo/mte_dino_digits.py]
                         [--work-dir work_dirs/demo] [--epochs N]
"""
import argparse
import os.path as osp
import time

import mte_mm  # noqa: F401  (compat shims + registries)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS

from mte_mm.evaluation import knn_diagnostics
from mte_mm.utils import set_max_epochs

KS = (10, 20)


def knn_table(model, train_set, test_set):
    return knn_diagnostics(model, train_set, test_set, ks=KS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/demo/mte_dino_digits.py')
    parser.add_argument('--work-dir', default='work_dirs/demo_mte_dino')
    parser.add_argument('--epochs', type=int, help='override max_epochs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    if args.epochs is not None:
        set_max_epochs(cfg, args.epochs)
        cfg.default_hooks.checkpoint.interval = args.epochs
    runner = Runner.from_cfg(cfg)
    model = runner.model
    model.init_weights()  # the Runner's own init call is then a no-op

    eval_set = dict(type='DigitsDataset',
                    image_size=cfg.train_dataloader.dataset.image_size,
                    pipeline=[dict(type='PackInputs')])
    train_set = DATASETS.build(dict(eval_set, split='train'))
    test_set = DATASETS.build(dict(eval_set, split='test'))

    before = knn_table(model, train_set, test_set)
    start = time.time()
    runner.train()
    minutes = (time.time() - start) / 60
    after = knn_table(model, train_set, test_set)

    print(f'\nMTE-DINO on digits ({len(train_set)} train / {len(test_set)} '
          f'test images), {cfg.train_cfg.max_epochs} epochs in '
          f'{minutes:.1f} min')
    print('weighted kNN top-1 (%), teacher features, T=0.07')
    print(f'{"token":<10}' + ''.join(
        f'{"k=%d before" % k:>14}{"after":>8}' for k in KS))
    for name in before:
        print(f'{name:<10}' + ''.join(
            f'{before[name][k]:>14.1f}{after[name][k]:>8.1f}' for k in KS))
    ckpt = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    print(f'checkpoint: {osp.abspath(ckpt)}')
    return before, after


if __name__ == '__main__':
    main()
