"""scikit-learn's ``digits`` (1797 real 8x8 handwritten digits, shipped inside
the scikit-learn wheel) as an mmpretrain dataset, for CPU demos and tests that
need real images without any download."""
from typing import List, Optional

import numpy as np
from PIL import Image

from mmpretrain.datasets import BaseDataset
from ..registry import DATASETS


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """UCI handwritten digits from ``sklearn.datasets.load_digits``.

    Images are upscaled (bicubic) from 8x8 to ``image_size`` and repeated to 3
    channels; ``data_info['img']`` holds an ``HxWx3`` uint8 array, so no
    ``LoadImageFromFile`` is needed in the pipeline. The split is a fixed,
    seeded, stratification-free permutation: ``test_fraction`` of the images
    form ``split='test'``, the rest ``split='train'``.

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        image_size (int): Side length of the upscaled images. Defaults to 32.
        test_fraction (float): Fraction of images in the test split.
            Defaults to 0.2.
        seed (int): Seed of the split permutation. Defaults to 0.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``indices``, ``test_mode``, ...).
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self,
                 split: str = 'train',
                 image_size: int = 32,
                 test_fraction: float = 0.2,
                 seed: int = 0,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(
                f"DigitsDataset: split must be 'train' or 'test', got {split!r}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError('DigitsDataset: test_fraction must be in (0, 1), '
                             f'got {test_fraction}')
        self.split = split
        self.image_size = int(image_size)
        self.test_fraction = test_fraction
        self.seed = seed
        super().__init__(ann_file='', metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        from sklearn.datasets import load_digits
        digits = load_digits()
        order = np.random.RandomState(self.seed).permutation(len(digits.target))
        num_test = int(round(len(order) * self.test_fraction))
        chosen = order[:num_test] if self.split == 'test' else order[num_test:]
        data_list = []
        for index in chosen:
            # pixel values are 0..16
            gray = (digits.images[index] * (255.0 / 16.0)).astype(np.uint8)
            big = Image.fromarray(gray).resize(
                (self.image_size, self.image_size), Image.BICUBIC)
            img = np.repeat(np.asarray(big)[..., None], 3, axis=2)
            data_list.append(
                dict(img=img, gt_label=int(digits.target[index])))
        return data_list

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split}', f'Image size: \t{self.image_size}']
