"""iBOT's per-crop block masks (Zhou et al., "iBOT: Image BERT Pre-Training
with Online Tokenizer", ICLR 2022), for masked image modeling in multi-crop
pipelines; used by MTE-iBOT (Multi-Token Enhancing, arXiv 2411.15787)."""
import math
from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS


@TRANSFORMS.register_module()
class IBOTBlockMasks(BaseTransform):
    """Give every crop of a multi-crop sample its own block mask over its
    patch grid, as iBOT draws them.

    Put it after ``MultiView`` (which keeps only ``img`` of each view) and
    before ``PackInputs(algorithm_keys=['masks'])``: it reads the crops in
    ``results['img']`` and adds ``results['masks']``, one bool tensor
    ``(H / patch_size, W / patch_size)`` per crop, True = masked.

    Per crop: the mask ratio is drawn by picking one ``(mean, var)`` pair of
    ``pred_ratio`` / ``pred_ratio_var`` uniformly and then ``r ~ U(mean -
    var, mean + var)`` (the recipe's ``(0, 0.3)`` / ``(0, 0.2)``: unmasked
    with probability 0.5, else ``r ~ U(0.1, 0.5)``). Blocks are added until
    ``r * h * w`` patches are masked: up to ``max_attempts`` tries per block
    of area ``U(min_area, remaining)`` (``min_area = (min(h, w) // 3) ** 2``,
    16 on a 14 x 14 grid) and aspect ratio ``exp(U(log 0.3, log 1 / 0.3))``,
    top-left uniform over every position where the block fits (the last row
    and column included), accepted if it adds 1..remaining new patches; it
    stops when a round adds nothing. mmpretrain's ``BEiTMaskGenerator`` is a
    different algorithm (an exact count, one ratio for all, the last row
    and column never masked). Draws use numpy's global generator, which
    mmengine seeds per worker, so a seed fixes the masks.

    Args:
        patch_size (int): The backbone's patch size. Defaults to 16.
        pred_ratio (Sequence[float]): Mean mask ratios. Defaults to (0, 0.3).
        pred_ratio_var (Sequence[float]): Their half-ranges. Defaults to
            (0, 0.2).
        aspect_ratio (tuple[float, float]): Block aspect-ratio range.
            Defaults to (0.3, 1 / 0.3).
        max_attempts (int): Tries per block. Defaults to 10.
    """

    def __init__(self,
                 patch_size: int = 16,
                 pred_ratio: Sequence[float] = (0.0, 0.3),
                 pred_ratio_var: Sequence[float] = (0.0, 0.2),
                 aspect_ratio: Tuple[float, float] = (0.3, 1 / 0.3),
                 max_attempts: int = 10):
        if len(pred_ratio) != len(pred_ratio_var) or not pred_ratio:
            raise ValueError('IBOTBlockMasks: pred_ratio and pred_ratio_var '
                             'must have the same, non-zero length; got '
                             f'{pred_ratio} and {pred_ratio_var}')
        for mean, var in zip(pred_ratio, pred_ratio_var):
            if not 0 <= mean - var <= mean + var <= 1:
                raise ValueError(f'IBOTBlockMasks: pred_ratio {mean} +- '
                                 f'{var} leaves [0, 1]')
        if patch_size < 1 or max_attempts < 1:
            raise ValueError('IBOTBlockMasks: patch_size and max_attempts '
                             f'must be >= 1, got {patch_size}, '
                             f'{max_attempts}')
        self.patch_size = patch_size
        self.ratios = list(zip(pred_ratio, pred_ratio_var))
        self.log_aspect = (math.log(aspect_ratio[0]),
                           math.log(aspect_ratio[1]))
        self.max_attempts = max_attempts

    def draw_ratio(self) -> float:
        mean, var = self.ratios[np.random.randint(len(self.ratios))]
        return float(np.random.uniform(mean - var, mean + var)) if var \
            else float(mean)

    def block_mask(self, height: int, width: int, ratio: float) -> np.ndarray:
        """One ``(height, width)`` bool mask of about ``ratio`` of the
        patches (never more)."""
        mask = np.zeros((height, width), dtype=bool)
        target = ratio * height * width
        min_area = (min(height, width) // 3)**2
        count = 0
        while count < target:
            remaining = target - count
            added = 0
            for _ in range(self.max_attempts):
                area = np.random.uniform(min_area, remaining)
                aspect = math.exp(np.random.uniform(*self.log_aspect))
                h = int(round(math.sqrt(area * aspect)))
                w = int(round(math.sqrt(area / aspect)))
                if h < height and w < width:
                    top = np.random.randint(0, height - h + 1)
                    left = np.random.randint(0, width - w + 1)
                    block = mask[top:top + h, left:left + w]
                    new = h * w - int(block.sum())
                    if 0 < new <= remaining:
                        block[:] = True
                        added = new
                if added:
                    break
            if not added:
                break
            count += added
        return mask

    def transform(self, results: dict) -> dict:
        crops = results['img']
        if not isinstance(crops, list):
            raise TypeError('IBOTBlockMasks: results["img"] must be the list '
                            'of crops that MultiView or DecodeMultiCrop '
                            'makes; put it after MultiView or '
                            'DecodeMultiCrop')
        masks: List[torch.Tensor] = []
        for crop in crops:
            # (H, W, C) arrays from MultiView, (C, H, W) tensors from
            # DecodeMultiCrop
            size = crop.shape[-2:] if isinstance(crop, torch.Tensor) \
                else crop.shape[:2]
            height, width = size[0] // self.patch_size, \
                size[1] // self.patch_size
            masks.append(torch.from_numpy(
                self.block_mask(height, width, self.draw_ratio())))
        results['masks'] = masks
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(patch_size={self.patch_size}, '
                f'ratios={self.ratios}, max_attempts={self.max_attempts})')
