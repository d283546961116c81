"""A fingerprint of every training batch, to check that runs compared as a
pair (same seed, different methods) saw the same data."""
import hashlib
import os.path as osp
from typing import List, Optional

import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook

from ...registry import HOOKS


def batch_fingerprint(inputs) -> str:
    """SHA-1 of the bytes of every tensor in ``inputs`` (a tensor or nested
    lists of tensors: the views of a multi-crop batch), in order."""
    digest = hashlib.sha1()

    def add(item) -> None:
        if torch.is_tensor(item):
            digest.update(str(tuple(item.shape)).encode())
            digest.update(item.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(item, (list, tuple)):
            for sub in item:
                add(sub)
        else:
            raise TypeError(f'batch_fingerprint: unexpected {type(item)}')

    add(inputs)
    return digest.hexdigest()


@HOOKS.register_module()
class DataFingerprintHook(Hook):
    """Append ``<iter> <sha1>`` for every training batch (its images as the
    data loader hands them over: data order and augmentation draws) to
    ``<work_dir>/data_fingerprints.txt`` (``..._rank<r>.txt`` with several
    processes), written at the end of each epoch. Two runs saw the same data
    exactly when their files are equal; ``tools/benchmarks/
    compare_methods.py`` checks that its paired arms did."""

    priority = 'VERY_LOW'

    def __init__(self, filename: str = 'data_fingerprints.txt'):
        self.filename = filename
        self._lines: List[str] = []

    def path(self, work_dir: str) -> str:
        name = self.filename
        if get_world_size() > 1:
            stem, ext = osp.splitext(name)
            name = f'{stem}_rank{get_rank()}{ext}'
        return osp.join(work_dir, name)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if data_batch is not None:
            self._lines.append(
                f'{runner.iter} {batch_fingerprint(data_batch["inputs"])}')

    def after_train_epoch(self, runner) -> None:
        with open(self.path(runner.work_dir), 'a') as f:
            f.writelines(line + '\n' for line in self._lines)
        self._lines = []
