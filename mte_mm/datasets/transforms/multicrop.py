"""The CPU half of a fast DINO multi-crop pipeline (Caron et al., ICCV 2021):
decode once, crop and resize every view, and only *draw* the photometric
augmentation, which :class:`~mte_mm.models.MultiCropPhotometricPreprocessor`
applies batched on the training device.

Profiled on our per-image pipeline (mmpretrain ``MultiView`` of
``RandomResizedCrop`` + photometric transforms, 2 x 224 + 8 x 96 crops of
500 x 375 JPEGs, one core): colour jitter 40 %, crop and resize 30 %, blur
14 %, grayscale 7 %, flips 4 %, decoding 3 %. What stays here is Pillow's
crop-and-resize in one call (``Image.resize(box=...)``: no cropped copy, no
numpy / Pillow round trips) from one decoded image.
"""
import io
import math
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmpretrain.datasets.transforms import RandomResizedCrop
from PIL import Image

from ...registry import TRANSFORMS
from ..image_check import jpeg_truncated
from .loading import CheckedLoadImageFromFile
from .photometric_params import PhotometricRecipe

RESAMPLE = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC,
            'lanczos': Image.LANCZOS, 'nearest': Image.NEAREST}
VIEW_KEYS = {'num', 'size', 'crop_scale', 'aspect_ratio', 'photometric'}


def _shape_proxy(height: int, width: int) -> np.ndarray:
    """An array of the image's shape that holds no memory (mmpretrain's
    ``RandomResizedCrop.rand_crop_params`` reads only ``img.shape``)."""
    return np.broadcast_to(np.zeros((), np.uint8), (height, width))


def draft_factor(boxes: Sequence[Sequence[float]],
                 sizes: Sequence[int]) -> int:
    """Largest JPEG DCT reduction (1, 2, 4 or 8) after which every crop box
    still has at least its output size in pixels, so no view is upsampled
    that was not upsampled from the full-size decode.

    Args:
        boxes: ``(x0, y0, x1, y1)`` per view, in full-size pixels.
        sizes: Output side per view.
    """
    allowed = min(min(x1 - x0, y1 - y0) / size
                  for (x0, y0, x1, y1), size in zip(boxes, sizes))
    factor = 1
    while factor < 8 and allowed >= 2 * factor:
        factor *= 2
    return factor


@TRANSFORMS.register_module()
class DecodeMultiCrop(CheckedLoadImageFromFile):
    """Load an image and make DINO's multi-crop views: each view is a
    random resized crop (mmpretrain's ``RandomResizedCrop`` box sampling,
    Pillow resampling) and carries photometric parameters drawn from its
    :class:`PhotometricRecipe`, to be applied by
    :class:`~mte_mm.models.MultiCropPhotometricPreprocessor`.

    It replaces ``CheckedLoadImageFromFile`` + ``MultiView(...)`` in a
    pipeline; put :class:`SeedPerSample` before it and
    ``PackInputs(algorithm_keys=['photometric_params'])`` after it.

    Outputs: ``results['img']``, a list of ``(3, size, size)`` uint8 BGR
    tensors (the channel order of mmcv's loaders, so the data preprocessor
    and its ``to_rgb`` serve evaluation pipelines too), and
    ``results['photometric_params']``, ``(num_views, NUM_PARAMS)`` float32.

    Args:
        views (list[dict]): View groups, in output order, each
            ``dict(num, size, crop_scale, aspect_ratio=(3/4, 4/3),
            photometric=dict(...PhotometricRecipe arguments))``.
        interpolation (str): Pillow resampling (``'bicubic'``, DINO's).
        draft (bool): Decode JPEGs at 1/2, 1/4 or 1/8 size (libjpeg's DCT
            scaling, far cheaper than a full decode) when every crop box of
            the image still has its output size at that scale.
        on_unreadable (str): As :class:`CheckedLoadImageFromFile`.
    """

    def __init__(self,
                 views: Sequence[dict],
                 interpolation: str = 'bicubic',
                 draft: bool = True,
                 on_unreadable: str = 'raise',
                 **kwargs):
        super().__init__(on_unreadable=on_unreadable, **kwargs)
        if interpolation not in RESAMPLE:
            raise ValueError(f'DecodeMultiCrop: interpolation='
                             f'{interpolation!r}; choose from '
                             f'{sorted(RESAMPLE)}')
        if not views:
            raise ValueError('DecodeMultiCrop: views is empty')
        self.crops: List[RandomResizedCrop] = []
        self.recipes: List[PhotometricRecipe] = []
        self.sizes: List[int] = []
        for i, view in enumerate(views):
            unknown = set(view) - VIEW_KEYS
            missing = {'size', 'crop_scale'} - set(view)
            if unknown or missing:
                raise ValueError(
                    f'DecodeMultiCrop: views[{i}] = {view}: unknown keys '
                    f'{sorted(unknown)}, missing keys {sorted(missing)} '
                    f'(allowed: {sorted(VIEW_KEYS)})')
            num = int(view.get('num', 1))
            if num < 1 or int(view['size']) < 1:
                raise ValueError(f'DecodeMultiCrop: views[{i}] needs num >= 1'
                                 f' and size >= 1, got {view}')
            crop = RandomResizedCrop(
                scale=int(view['size']),
                crop_ratio_range=tuple(view['crop_scale']),
                aspect_ratio_range=tuple(view.get('aspect_ratio',
                                                  (3. / 4., 4. / 3.))))
            recipe = PhotometricRecipe(**view.get('photometric', {}))
            self.crops += [crop] * num
            self.recipes += [recipe] * num
            self.sizes += [int(view['size'])] * num
        self.resample = RESAMPLE[interpolation]
        self.draft = draft
        self.views = [dict(v) for v in views]

    def _open(self, filename: str):
        """``(lazy Pillow image, None)`` or ``(None, what is wrong)``."""
        try:
            data = self._read(filename)
        except Exception as exc:  # missing file, permissions, backend
            return None, f'cannot be read ({type(exc).__name__}: {exc})'
        if not data:
            return None, 'empty file'
        if jpeg_truncated(data):
            return None, 'truncated JPEG (no end-of-image marker)'
        try:
            return Image.open(io.BytesIO(data)), None
        except Exception as exc:  # Pillow raises many types
            return None, f'not decodable ({type(exc).__name__}: {exc})'

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        image, problem = self._open(filename)
        if problem is not None:
            return self._reject(filename, problem)
        width, height = image.size
        proxy = _shape_proxy(height, width)
        boxes, params = [], []
        for crop, recipe in zip(self.crops, self.recipes):
            top, left, crop_h, crop_w = crop.rand_crop_params(proxy)
            boxes.append((left, top, left + crop_w, top + crop_h))
            params.append(recipe.draw())
        scale = 1.0
        if self.draft and image.format == 'JPEG':
            factor = draft_factor(boxes, self.sizes)
            if factor > 1:
                image.draft('RGB', (math.ceil(width / factor),
                                    math.ceil(height / factor)))
                scale = image.size[0] / width
        try:
            image = image.convert('RGB')
        except Exception as exc:
            return self._reject(filename, f'not decodable ({type(exc).__name__}'
                                f': {exc})')
        views = []
        for (x0, y0, x1, y1), size in zip(boxes, self.sizes):
            view = image.resize((size, size), self.resample,
                                box=(x0 * scale, y0 * scale, x1 * scale,
                                     y1 * scale))
            # (H, W, RGB) -> (BGR, H, W), one copy
            views.append(torch.from_numpy(np.ascontiguousarray(
                np.asarray(view)[:, :, ::-1].transpose(2, 0, 1))))
        results['img'] = views
        results['img_shape'] = (height, width)
        results['ori_shape'] = (height, width)
        results['photometric_params'] = torch.from_numpy(np.stack(params))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(views={self.views}, '
                f'draft={self.draft}, on_unreadable={self.on_unreadable!r})')
