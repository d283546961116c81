"""Seed a sample's augmentation draws from its place in the data stream."""
import random

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS


@TRANSFORMS.register_module()
class SeedPerSample(BaseTransform):
    """Seed Python's, numpy's and torch's generators from the sample's
    :class:`~mte_mm.datasets.samplers.SeededIndex` (``results['sample_idx']``,
    which mmengine's ``BaseDataset`` sets from the index it was given), so
    the random transforms after it draw the same values for that sample
    whichever process loads it and whenever.

    Put it first in the pipeline and use
    :class:`~mte_mm.datasets.samplers.ResumableSeededSampler`. A sample
    drawn without a seed (another sampler, or one that mmengine's dataset
    drew in place of a skipped, unreadable image) leaves the generators as
    they are: still deterministic, since they were seeded for the sample it
    replaces.
    """

    def transform(self, results: dict) -> dict:
        seed = getattr(results.get('sample_idx'), 'seed', None)
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
        return results
