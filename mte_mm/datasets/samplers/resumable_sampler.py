"""A sampler for exact resumes: mmengine's ``DefaultSampler`` order, a seed
for every sample drawn, and a mid-epoch start."""
from typing import Iterator, Optional, Sequence

import numpy as np
from mmengine.dataset import DefaultSampler

from ...registry import DATA_SAMPLERS


def stream_seed(*keys: int) -> int:
    """A well-mixed 32-bit seed of integer keys (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(k) for k in keys])
               .generate_state(1)[0])


class SeededIndex(int):
    """A dataset index that carries the seed of its augmentation draws (read
    by :class:`SeedPerSample`); everything else sees a plain ``int``."""

    def __new__(cls, index: int, seed: int):
        obj = super().__new__(cls, index)
        obj.seed = seed
        return obj

    def __reduce__(self):  # to data-loader workers
        return SeededIndex, (int(self), self.seed)


@DATA_SAMPLERS.register_module()
class ResumableSeededSampler(DefaultSampler):
    """``DefaultSampler`` (same order for a given seed and epoch) whose
    indices are :class:`SeededIndex` objects seeded by ``(seed, epoch,
    position in the epoch's global order)``, and which can start an epoch
    past the samples a run consumed before it was stopped.

    With :class:`SeedPerSample` first in the pipeline, a sample's
    augmentations depend only on that seed, not on which data-loader worker
    loads it or how long the worker has lived: a run resumed after a kill
    (from an epoch or a mid-epoch checkpoint, see :class:`ExactResumeHook`)
    sees the same crops as the uninterrupted run, with any ``num_workers``,
    and ``W`` processes at batch ``B`` see the same samples per step as one
    process at batch ``W * B``.

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): As ``DefaultSampler``. Defaults to True.
        seed (int, optional): As ``DefaultSampler`` (None: a random seed
            shared by all ranks; the Runner passes its own).
        round_up (bool): As ``DefaultSampler``. Defaults to True.
    """

    def __init__(self, dataset: Sequence, shuffle: bool = True,
                 seed: Optional[int] = None, round_up: bool = True):
        super().__init__(dataset, shuffle=shuffle, seed=seed,
                         round_up=round_up)
        self._skip = 0
        self._skip_epoch = None

    def skip(self, num_samples: int, epoch: int) -> None:
        """Start ``epoch`` after this rank's first ``num_samples``."""
        if not 0 <= num_samples <= self.num_samples:
            raise ValueError(f'ResumableSeededSampler: cannot skip '
                             f'{num_samples} of {self.num_samples} samples')
        self._skip, self._skip_epoch = num_samples, epoch

    def _skipped(self) -> int:
        return self._skip if self.epoch == self._skip_epoch else 0

    def __iter__(self) -> Iterator[SeededIndex]:
        indices = list(super().__iter__())
        # this rank's k-th index is at position rank + k * world_size of the
        # epoch's global order (DefaultSampler subsamples that way)
        for k in range(self._skipped(), len(indices)):
            position = self.rank + k * self.world_size
            yield SeededIndex(indices[k],
                              stream_seed(self.seed, self.epoch, position))

    def __len__(self) -> int:
        return self.num_samples - self._skipped()
