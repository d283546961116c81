"""Data preprocessor that finishes DINO's multi-crop views on the training
device (Caron et al., ICCV 2021): the photometric augmentation drawn by
:class:`~mte_mm.datasets.transforms.DecodeMultiCrop` in the data workers is
applied here, batched, before the usual channel conversion and
normalisation."""
from collections import OrderedDict
from typing import List

import torch
from mmpretrain.models.utils import SelfSupDataPreprocessor

from ...registry import MODELS
from ..utils.batched_photometric import apply_photometric

PARAMS_KEY = 'photometric_params'


@MODELS.register_module()
class MultiCropPhotometricPreprocessor(SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` plus the photometric
    augmentation of each view, when the batch's data samples carry
    ``photometric_params`` (``(num_views, NUM_PARAMS)`` per sample, from
    ``PackInputs(algorithm_keys=['photometric_params'])``). Views of one
    size are augmented as one batch. Batches without parameters (kNN
    evaluation, the per-image pipelines) are processed exactly as by
    ``SelfSupDataPreprocessor``.

    Args: as ``SelfSupDataPreprocessor`` (``mean``, ``std``, ``to_rgb``...).
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data.get('data_samples')
        if not samples or PARAMS_KEY not in samples[0]:
            return super().forward(data, training)
        data = self.cast_data(data)
        views: List[torch.Tensor] = data['inputs']
        params = torch.stack([s.get(PARAMS_KEY) for s in data['data_samples']])
        if not isinstance(views, list) or params.shape[1] != len(views):
            raise ValueError(
                f'MultiCropPhotometricPreprocessor: {params.shape[1]} views of '
                f'photometric parameters per sample but inputs of '
                f'{len(views) if isinstance(views, list) else "one tensor"} '
                'views; use DecodeMultiCrop and PackInputs(algorithm_keys='
                "['photometric_params'])")
        params = params.to(views[0].device)
        groups = OrderedDict()  # views of one shape run as one batch
        for index, view in enumerate(views):
            groups.setdefault(tuple(view.shape), []).append(index)
        out = [None] * len(views)
        # float32 pixels whatever the step's autocast (mmengine runs the
        # preprocessor inside the optim wrapper's autocast context)
        with torch.autocast(views[0].device.type, enabled=False):
            self._augment(views, params, groups, out)
        data['inputs'] = out
        return data

    def _augment(self, views, params, groups, out) -> None:
        for indices in groups.values():
            x = torch.cat([views[i] for i in indices])
            if self._channel_conversion:
                x = x[:, [2, 1, 0]]
            x = apply_photometric(
                x.float(), torch.cat([params[:, i] for i in indices]))
            if self._enable_normalize:
                x = (x - self.mean) / self.std
            for i, chunk in zip(indices, x.chunk(len(indices))):
                out[i] = chunk
