"""configs/small/: the fast multi-crop pipeline draws the views of the
per-image small pipeline (same sizes, crop scales and photometric recipe)."""
import pytest
from mmengine.config import Config

from ..conftest import REPO

BASES = REPO / 'configs' / '_base_' / 'datasets'


def per_image_views():
    cfg = Config.fromfile(str(BASES / 'folder_dino_multicrop_small.py'))
    multiview = cfg.train_dataloader.dataset.pipeline[2]
    views = []
    for num, transforms in zip(multiview.num_views, multiview.transforms):
        ops = {t['type']: t for t in transforms}
        jitter = ops['RandomApply']['transforms'][0]
        views.append(dict(
            num=num, size=ops['RandomResizedCrop']['scale'],
            crop_scale=tuple(ops['RandomResizedCrop']['crop_ratio_range']),
            flip_prob=ops['RandomFlip']['prob'],
            jitter=(ops['RandomApply']['prob'], jitter['brightness'],
                    jitter['contrast'], jitter['saturation'], jitter['hue']),
            grayscale_prob=ops['RandomGrayscale']['prob'],
            blur=(ops['GaussianBlur']['prob'],
                  *ops['GaussianBlur']['magnitude_range']),
            solarize_prob=ops['Solarize']['prob']))
    return views


def fast_views():
    from mte_mm.datasets.transforms import PhotometricRecipe
    cfg = Config.fromfile(str(BASES / 'folder_dino_multicrop_small_fast.py'))
    decode = cfg.train_dataloader.dataset.pipeline[1]
    assert decode['type'] == 'DecodeMultiCrop'
    assert decode['interpolation'] == 'bicubic' and decode['draft'] is False
    views = []
    for view in decode['views']:
        recipe = PhotometricRecipe(**view['photometric'])
        ranges = recipe.ranges
        views.append(dict(
            num=view['num'], size=view['size'],
            crop_scale=tuple(view['crop_scale']),
            flip_prob=recipe.probs['flip'],
            jitter=(recipe.probs['jitter'], 1 - ranges['brightness'][0],
                    1 - ranges['contrast'][0], 1 - ranges['saturation'][0],
                    ranges['hue'][1]),
            grayscale_prob=recipe.probs['grayscale'],
            blur=(recipe.probs['blur'], *recipe.blur_sigma),
            solarize_prob=recipe.probs['solarize']))
    return views


def test_fast_small_pipeline_draws_the_per_image_views():
    fast, ref = fast_views(), per_image_views()
    assert len(fast) == len(ref) == 3
    for ours, theirs in zip(fast, ref):
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert ours[key] == pytest.approx(theirs[key]), key
    cfg = Config.fromfile(str(REPO / 'configs/small/mte_dino_small.py'))
    assert cfg.data_preprocessor['type'] == 'MultiCropPhotometricPreprocessor'
    assert cfg.train_dataloader.dataset.pipeline[1]['type'] == \
        'DecodeMultiCrop'
