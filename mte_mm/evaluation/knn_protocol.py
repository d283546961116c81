"""The DINO kNN protocol on a model: features per token kind, weighted kNN
for several k (Caron et al., ICCV 2021)."""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from mmpretrain.registry import DATASETS
from torch.utils.data import Dataset

from .features import extract_features
from .knn import knn_accuracy


def knn_diagnostics(model,
                    train_set: Dataset,
                    val_set: Dataset,
                    source: str = 'teacher',
                    with_aux: bool = True,
                    ks: Sequence[int] = (10, 20, 100, 200),
                    temperature: float = 0.07,
                    batch_size: int = 128,
                    num_workers: int = 0) -> Dict[str, Dict[int, float]]:
    """Top-1 (%) for every token kind (``global``, ``aux_n``, ``pooled_k``,
    ``ensemble``) and every k."""
    kwargs = dict(source=source, with_aux=with_aux, batch_size=batch_size,
                  num_workers=num_workers)
    train_feats, train_labels = extract_features(model, train_set, **kwargs)
    val_feats, val_labels = extract_features(model, val_set, **kwargs)
    return {name: knn_accuracy(train_feats[name], train_labels,
                               val_feats[name], val_labels, ks=ks,
                               temperature=temperature)
            for name in train_feats}


def format_knn_table(results: Dict[str, Dict[int, float]]) -> str:
    """A plain-text table: one row per token kind, one column per k."""
    ks = sorted(next(iter(results.values())))
    lines = [f'{"token":<10}' + ''.join(f'{"k=" + str(k):>9}' for k in ks)]
    for name, accs in results.items():
        lines.append(f'{name:<10}' + ''.join(f'{accs[k]:>9.2f}' for k in ks))
    return '\n'.join(lines)


def eval_pipeline(resize: int = 256, crop: int = 224) -> list:
    """DINO's kNN / linear-probe evaluation transform: bicubic resize of the
    short side, centre crop."""
    return [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=resize, edge='short',
             backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=crop),
        dict(type='PackInputs'),
    ]


def build_knn_datasets(data_root: Optional[str] = None,
                       train: Optional[dict] = None,
                       val: Optional[dict] = None,
                       resize: int = 256,
                       crop: int = 224) -> Tuple[Dataset, Dataset]:
    """Train (memory bank) and val datasets for kNN.

    Either ``data_root`` with ImageNet-style folders ``train/<class>/*`` and
    ``val/<class>/*`` (class ids follow the train folders), or mmpretrain
    dataset configs ``train`` / ``val`` (used as given).
    """
    if (data_root is None) == (train is None or val is None):
        raise ValueError('give either data_root (train/ and val/ class '
                         'folders) or both train and val dataset configs')
    if train is not None:
        return DATASETS.build(train), DATASETS.build(val)
    for split in ('train', 'val'):
        if not osp.isdir(osp.join(data_root, split)):
            raise FileNotFoundError(
                f'kNN data_root {data_root!r} has no {split}/ folder '
                '(expected train/<class>/* and val/<class>/*)')
    pipeline = eval_pipeline(resize, crop)
    train_set = DATASETS.build(dict(type='CustomDataset', data_root=data_root,
                                    data_prefix='train', pipeline=pipeline))
    val_set = DATASETS.build(dict(type='CustomDataset', data_root=data_root,
                                  data_prefix='val', pipeline=pipeline,
                                  classes=train_set.metainfo['classes']))
    return train_set, val_set
