"""Exact resumes: a run killed and resumed (from an epoch or a mid-epoch
checkpoint) continues bit for bit as the uninterrupted run would have."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from ...datasets.samplers import ResumableSeededSampler, stream_seed
from ...registry import HOOKS


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make every random draw of training a function of ``(seed, where in
    the run)`` rather than of the process's history, and start a resumed
    mid-epoch run at the first batch it had not trained on.

    * Before every iteration the main process's Python, numpy and torch
      generators (CUDA included) are seeded from ``(seed, iteration,
      rank)``: the model's own draws (drop-path, masks) then depend on the
      iteration alone. This is deliberately not a restore of generator
      states saved in the checkpoint: anything that draws between a save
      and the next step (the kNN hook's data loader at the end of an epoch
      takes a seed from torch's generator) would make a restored state
      diverge, while a per-iteration seed cannot.
    * The data's draws are seeded per sample by
      :class:`~mte_mm.datasets.samplers.ResumableSeededSampler` and
      :class:`~mte_mm.datasets.transforms.SeedPerSample`, independent of
      the data-loader workers (their mmengine seeds ``seed + rank *
      num_workers + worker`` no longer matter).
    * On a resume from a checkpoint written mid-epoch (``CheckpointHook``
      with ``by_epoch=False``) the sampler skips the batches of that epoch
      already trained on, so no sample is seen twice or skipped; the
      resumed epoch is shorter by that many iterations in the log's
      ``[epoch][i/n]``, and ``runner.iter`` keeps counting from the
      checkpoint.

    With another sampler the per-iteration seeding still applies, and a
    mid-epoch resume is refused with a message rather than silently
    repeating the epoch's first batches.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return  # mmengine's IterBasedTrainLoop skips consumed batches
        loader = runner.train_loop.dataloader
        per_epoch = len(loader)
        consumed = runner.iter - runner.epoch * per_epoch
        if consumed == 0:
            return
        sampler = loader.sampler
        if not isinstance(sampler, ResumableSeededSampler):
            raise RuntimeError(
                f'ExactResumeHook: resuming at iteration {runner.iter}, '
                f'batch {consumed} of epoch {runner.epoch + 1}, needs '
                "train_dataloader.sampler=dict(type='ResumableSeededSampler'"
                f'), not {type(sampler).__name__} (it would repeat the '
                "epoch's first batches)")
        if not 0 < consumed <= per_epoch:
            raise RuntimeError(
                f'ExactResumeHook: iteration {runner.iter} is not in epoch '
                f'{runner.epoch + 1} of {per_epoch} iterations; was the '
                'checkpoint written with another batch size or dataset?')
        if loader.batch_size is None:
            raise RuntimeError('ExactResumeHook: a mid-epoch resume needs '
                               'train_dataloader.batch_size (this loader '
                               'has a batch_sampler)')
        sampler.skip(consumed * loader.batch_size, runner.epoch)
        print_log(f'ExactResumeHook: epoch {runner.epoch + 1} starts at its '
                  f'batch {consumed + 1} of {per_epoch} (mid-epoch '
                  'checkpoint)', logger='current')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        seed = stream_seed(runner.seed, runner.iter, get_rank())
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
