"""CPU demo: pretrain MTE-DINO on scikit-learn's digits with a tiny ViT and
report weighted-kNN top-1 (DINO protocol: L2-normalised teacher features of
every token, exp(sim / 0.07) voting) before and after training.

    python tools/demo.py [--config configs/demo/mte_dino_digits.py]
                         [--work-dir work_dirs/demo] [--epochs N] [--verbose]

It shows one progress line per epoch (the full mmengine log goes to the
work dir; --verbose prints it too), the kNN table, and writes
demo_summary.png beside the checkpoint: the table as bars, and the token
maps (attention of the global and auxiliary tokens, pooling weights) of a
few test digits.
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import sys
import time

import mte_mm  # noqa: F401  (compat shims + registries)
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS

from mte_mm.evaluation import knn_diagnostics
from mte_mm.models.utils.slot_layout import SlotLayout
from mte_mm.utils import set_max_epochs
from mte_mm.utils.atomic import atomic_path

KS = (10, 20)
NUM_MAP_DIGITS = 4


def knn_table(model, train_set, test_set):
    return knn_diagnostics(model, train_set, test_set, ks=KS)


class EpochProgress(Hook):
    """One progress line per epoch on ``stream``: rewritten in place on a
    terminal, else printed about ten times per run."""

    priority = 'LOW'

    def __init__(self, stream):
        self.stream = stream
        self.start = time.time()

    def before_train(self, runner) -> None:
        self.start = time.time()

    def after_train_epoch(self, runner) -> None:
        epoch, total = runner.epoch + 1, runner.max_epochs
        loss = runner.message_hub.get_scalar('train/loss').current()
        line = (f'epoch {epoch:>3}/{total}  loss {loss:7.4f}  '
                f'{time.time() - self.start:5.0f} s')
        if self.stream.isatty():
            self.stream.write('\r' + line + ('\n' if epoch == total else ''))
        elif epoch == total or epoch % max(1, total // 10) == 0:
            self.stream.write(line + '\n')
        self.stream.flush()


def digit_token_maps(model, test_set, mean, std, count=NUM_MAP_DIGITS):
    """The first test image of each of ``count`` digit classes and the
    teacher's token maps of it: (images (n, H, W), labels, maps)."""
    chosen, seen = [], set()
    for i in range(len(test_set)):
        info = test_set.get_data_info(i)
        if info['gt_label'] not in seen:
            seen.add(info['gt_label'])
            chosen.append(info)
        if len(chosen) == count:
            break
    images = np.stack([info['img'] for info in chosen])  # n, H, W, 3 uint8
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / \
        torch.tensor(std).view(1, 3, 1, 1)
    model.eval()
    with torch.no_grad():
        maps = model.token_maps(x, 'teacher')
    return images[..., 0], [info['gt_label'] for info in chosen], maps


def summary_figure(before, after, images=None, labels=None, maps=None):
    """The kNN table as bars (one panel per k, before and after training,
    each bar labelled with its value as printed) and, when ``maps`` is
    given, one row of token maps per digit."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(before)
    rows = 1 + (len(images) if maps is not None else 0)
    fig = plt.figure(figsize=(max(10, 0.8 * len(names) * len(KS)),
                              3.6 + 1.4 * (rows - 1)))
    grid = fig.add_gridspec(rows, len(KS), height_ratios=[2.6] + [1] * (
        rows - 1))
    xs = np.arange(len(names))
    for col, k in enumerate(KS):
        ax = fig.add_subplot(grid[0, col])
        for shift, (when, table) in zip((-0.2, 0.2), (('before', before),
                                                      ('after', after))):
            values = [round(table[n][k], 1) for n in names]
            bars = ax.bar(xs + shift, values, 0.4, label=when)
            ax.bar_label(bars, labels=[f'{v:.1f}' for v in values],
                         fontsize=6, rotation=90, padding=2)
        ax.set_xticks(xs, names, rotation=60, fontsize=7)
        ax.set_ylabel(f'kNN top-1 (%), k={k}')
        ax.set_ylim(0, 110)
        ax.legend(fontsize=7, loc='lower right')
    if maps is not None:
        layout = SlotLayout.of(maps['aux'], maps['pooled'])
        slot_maps = layout.stack(maps['global_map'][:, None], maps['aux'],
                                 maps['pooled'])
        h, w = maps['patch_resolution']
        panels = ['image'] + list(layout.names)
        sub = grid[1:, :].subgridspec(len(images), len(panels))
        for r, (image, label) in enumerate(zip(images, labels)):
            weights = slot_maps[r]
            for c, name in enumerate(panels):
                ax = fig.add_subplot(sub[r, c])
                ax.imshow(image, cmap='gray')
                if c:
                    ax.imshow(weights[c - 1].reshape(h, w).numpy(),
                              cmap='inferno', alpha=0.6,
                              extent=(-0.5, image.shape[1] - 0.5,
                                      image.shape[0] - 0.5, -0.5))
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(name, fontsize=7)
                if c == 0:
                    ax.set_ylabel(f'digit {label}', fontsize=7)
    fig.suptitle('MTE-DINO on digits: weighted kNN of the teacher\'s tokens'
                 + (' and token maps' if maps is not None else ''))
    fig.tight_layout()
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/demo/mte_dino_digits.py')
    parser.add_argument('--work-dir', default='work_dirs/demo_mte_dino')
    parser.add_argument('--epochs', type=int, help='override max_epochs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    parser.add_argument('--verbose', action='store_true',
                        help="print mmengine's full log (always written to "
                        'the work dir)')
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    if args.epochs is not None:
        set_max_epochs(cfg, args.epochs)
        cfg.default_hooks.checkpoint.interval = args.epochs
    # mmengine's console handler writes to the sys.stdout it finds when the
    # Runner builds its logger: without --verbose that is a sink, and the
    # file handler keeps the full log in the work dir
    console = sys.stdout
    quiet = contextlib.nullcontext() if args.verbose else \
        contextlib.redirect_stdout(open(os.devnull, 'w'))
    with quiet:
        runner = Runner.from_cfg(cfg)
    runner.register_hook(EpochProgress(console))
    model = runner.model
    model.init_weights()  # the Runner's own init call is then a no-op

    eval_set = dict(type='DigitsDataset',
                    image_size=cfg.train_dataloader.dataset.image_size,
                    pipeline=[dict(type='PackInputs')])
    train_set = DATASETS.build(dict(eval_set, split='train'))
    test_set = DATASETS.build(dict(eval_set, split='test'))

    before = knn_table(model, train_set, test_set)
    print(f'MTE-DINO on digits: {cfg.train_cfg.max_epochs} epochs, log in '
          f'{osp.abspath(runner.log_dir)}', flush=True)
    start = time.time()
    with quiet:
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
    pre = cfg.data_preprocessor
    images, labels, maps = digit_token_maps(model, test_set, pre.mean, pre.std)
    summary = osp.join(cfg.work_dir, 'demo_summary.png')
    # the numbers of the bars also travel in the PNG's text chunk
    numbers = json.dumps({'before': before, 'after': after})
    with atomic_path(summary) as tmp:
        summary_figure(before, after, images, labels, maps).savefig(
            tmp, dpi=110, metadata={'mte_knn': numbers})
    print(f'summary: {osp.abspath(summary)}')
    return before, after


if __name__ == '__main__':
    main()
