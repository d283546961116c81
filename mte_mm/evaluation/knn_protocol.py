"""The DINO kNN protocol on a model: features per token kind, weighted kNN
for several k (Caron et al., ICCV 2021)."""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.dist import get_dist_info
from mmpretrain.registry import DATASETS
from torch.utils.data import Dataset

from .features import extract_feature_shards, gather_shards
from .knn import sharded_knn_accuracy


def knn_diagnostics(model,
                    train_set: Dataset,
                    val_set: Dataset,
                    source: str = 'teacher',
                    with_aux: bool = True,
                    ks: Sequence[int] = (10, 20, 100, 200),
                    temperature: float = 0.07,
                    batch_size: int = 128,
                    num_workers: int = 0,
                    bank_dtype: torch.dtype = torch.float32,
                    memory: Optional[dict] = None
                    ) -> Dict[str, Dict[int, float]]:
    """Top-1 (%) for every token kind (``global``, ``aux_n``, ``pooled_k``,
    ``ensemble``) and every k.

    The memory bank stays sharded: each process keeps the normalised
    features (``bank_dtype``) of its ``1 / world_size`` of ``train_set``
    for every kind, and the kinds are evaluated one at a time, each with
    its queries gathered and then freed (:func:`sharded_knn_accuracy`,
    exactly the result of one process holding everything). Bank memory per
    process: ``kinds x len(train_set) / world_size x C x bytes(bank_dtype)``.

    Args:
        bank_dtype (torch.dtype): Storage of the normalised features.
            float32 (default) gives the numbers of a float32 search (those
            of our evidence tables); float16 halves the bank and makes the
            result exactly independent of the number of processes, at a
            measured cost of up to 0.4 points on tiny-imagenet-10 (README,
            "Speed"). With float32 the split changes only the order of
            float64 sums.
        memory (dict, optional): Filled with ``bank_bytes`` (this
            process's train features, all kinds) and ``bank_bytes_full``
            (what one process holding every kind of the whole bank in
            float32 would need).
    """
    kwargs = dict(source=source, with_aux=with_aux, batch_size=batch_size,
                  num_workers=num_workers, dtype=bank_dtype)
    bank, bank_labels, bank_index = extract_feature_shards(
        model, train_set, **kwargs)
    queries, query_labels, _ = extract_feature_shards(model, val_set,
                                                      **kwargs)
    if memory is not None:
        memory['bank_bytes'] = sum(f.nbytes for f in bank.values())
        memory['bank_bytes_full'] = sum(
            len(train_set) * f.shape[1] * 4 for f in bank.values())
    _, world_size = get_dist_info()
    if world_size > 1:
        query_labels = gather_shards(query_labels, len(val_set))
    results = {}
    for name in list(bank):
        kind_queries = queries.pop(name)
        if world_size > 1:
            kind_queries = gather_shards(kind_queries, len(val_set))
        results[name] = sharded_knn_accuracy(
            bank.pop(name), bank_labels, bank_index, kind_queries,
            query_labels, ks=ks, temperature=temperature)
    return results


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
