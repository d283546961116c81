"""The check-size config and data that tools/check_gpu.py and the
every-config test share."""
import os

from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS

import mte_mm  # noqa: F401
from mte_mm.utils.quick_check import (quick_check_config,
                                      write_check_images)

from ..conftest import REPO


def build_dataset(cfg):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(cfg.train_dataloader.dataset)


def test_imagenet_class_list_is_satisfied(tmp_path):
    # mmpretrain's ImageNet (split='train') demands its 1000 class folders
    cfg = Config.fromfile(str(REPO / 'configs/byol_resnet50.py'))
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    root = write_check_images(str(tmp_path), cfg.train_dataloader.dataset)
    assert len(os.listdir(os.path.join(root, 'train'))) == 1000
    assert write_check_images(str(tmp_path),
                              cfg.train_dataloader.dataset) == root  # reused
    cfg = quick_check_config(cfg, root, num_blocks=1, steps=3)
    dataset = build_dataset(cfg)
    assert len(dataset) == 1000 and len(dataset.metainfo['classes']) == 1000


def test_folder_dataset_and_the_run_settings(tmp_path):
    cfg = Config.fromfile(str(REPO / 'configs/mte_dino_vits.py'))
    root = write_check_images(str(tmp_path), cfg.train_dataloader.dataset,
                              count=5)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(root)]
    checked = quick_check_config(cfg, root, num_blocks=1, steps=3,
                                 cfg_options={'model.neck.num_pooled_tokens':
                                              2})
    assert len(build_dataset(checked)) == 5
    assert checked.model.backbone.arch.num_layers == 1
    assert checked.model.backbone.arch.embed_dims == 384  # widths kept
    assert checked.model.neck.num_pooled_tokens == 2
    assert checked.train_dataloader.batch_size == 2
    assert checked.train_cfg == dict(type='IterBasedTrainLoop', max_iters=3)
    assert checked.default_hooks.checkpoint.interval == 3
    assert cfg.model.backbone.arch.num_layers == 12  # the input is unchanged
    full = quick_check_config(cfg, root, num_blocks=None, steps=1)
    assert full.model.backbone.arch.num_layers == 12
