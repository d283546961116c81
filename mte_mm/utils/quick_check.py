"""Every pretraining config we ship, at the size of a quick check: what
``tools/check_gpu.py`` trains on a node and what the every-config test
(``tests/test_configs/test_every_config.py``) trains in CI, so both check
the same thing.

A checked config differs from the shipped one only in size and data: fewer
blocks (:func:`mte_mm.models.backbones.reduced_depth`; widths, heads and
crops as configured), a small batch, a few iterations, and generated images
laid out so that the config's own dataset accepts them (one folder per class
where the dataset has a fixed class list, as mmpretrain's ``ImageNet``).
"""
import os
import os.path as osp
from glob import glob
from typing import List, Optional, Union

from mmengine.config import Config

from ..models.backbones.reduced_depth import reduced_depth
from .atomic import atomic_folder

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def pretraining_configs(repo: str = REPO) -> List[str]:
    """Every pretraining config we ship: the top level of ``configs/``
    (each ``mte_*.py`` and its baseline; transfer, evaluation and small
    recipes live in sub-folders), as paths relative to ``repo``."""
    return sorted(osp.relpath(path, repo)
                  for path in glob(osp.join(repo, 'configs', '*.py')))


def dataset_classes(dataset: dict) -> Optional[tuple]:
    """The class list a dataset config fixes (its ``metainfo`` or its
    class's ``METAINFO``), or None when it takes the folders it finds."""
    from mmpretrain.registry import DATASETS
    metainfo = dataset.get('metainfo') or {}
    if metainfo.get('classes'):
        return tuple(metainfo['classes'])
    cls = DATASETS.get(dataset['type'])
    if cls is None:
        raise KeyError(f'quick_check: no dataset type {dataset["type"]!r}')
    return (getattr(cls, 'METAINFO', None) or {}).get('classes')


def image_prefix(dataset: dict) -> str:
    """Where under ``data_root`` the dataset reads its images."""
    prefix = dataset.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '')
    return prefix or dataset.get('split', '') or ''


def write_check_images(folder: str, dataset: dict, count: int = 16,
                       size: int = 64, seed: int = 0) -> str:
    """Random JPEGs that ``dataset`` (a config) accepts, under a data root
    in ``folder`` named after their layout (written once, shared by every
    config of that layout): one folder per class of a fixed class list
    (``count`` images spread over them, one per folder at least), else one
    folder.

    Returns:
        str: The data root to give the dataset.
    """
    import numpy as np
    from PIL import Image
    classes = dataset_classes(dataset)
    prefix = image_prefix(dataset)
    folders = [f'class{i:04d}' for i in range(len(classes))] if classes \
        else ['class0']
    data_root = osp.join(folder, f'{len(folders)}_classes_in_'
                         f'{prefix.strip("/").replace("/", "_") or "root"}')
    if osp.isdir(data_root):
        return data_root
    rng = np.random.RandomState(seed)
    # whole or absent; checks side by side (check_gpu --jobs) may both write
    with atomic_folder(data_root, keep_existing=True) as staging:
        for i in range(max(count, len(folders))):
            images = osp.join(staging, prefix, folders[i % len(folders)])
            os.makedirs(images, exist_ok=True)
            pixels = rng.randint(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(osp.join(images, f'{i}.jpg'))
    return data_root


def quick_check_config(config: Union[str, Config], data_root: str,
                       num_blocks: Optional[int], steps: int, batch_size: int = 2,
                       cfg_options: Optional[dict] = None) -> Config:
    """``config`` at check size: ``num_blocks`` blocks per stage,
    ``batch_size`` images of ``data_root`` per process, ``steps``
    iterations, a log line and a checkpoint at the last one, no schedule.

    Args:
        config (str | Config): A pretraining config or its path.
        data_root (str): Images from :func:`write_check_images`.
        num_blocks (int, optional): Blocks per backbone stage; None: the
            configured depth (a full-size run).
        steps (int): Training iterations.
        batch_size (int): Images per process and step.
        cfg_options (dict, optional): Overrides merged before the
            reduction (``--cfg-options``).

    Returns:
        Config: A new config; ``config`` is not changed.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if num_blocks is not None:
        cfg.model.backbone = reduced_depth(cfg.model.backbone, num_blocks)
    loader = cfg.train_dataloader
    loader.dataset.data_root = data_root
    loader.batch_size = batch_size
    loader.num_workers = 0
    loader.persistent_workers = False
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=steps)
    cfg.param_scheduler = []
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=steps, by_epoch=False)
    return cfg
