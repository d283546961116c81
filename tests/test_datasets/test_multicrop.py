"""The fast multi-crop pipeline (DecodeMultiCrop in the workers, the
photometric augmentation in MultiCropPhotometricPreprocessor) against the
per-image pipeline it replaces: the same crops, the same tensors for the
model (shapes, dtype, value ranges), exact per-sample seeding, clear
errors."""
import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from PIL import Image

import mte_mm  # noqa: F401
from mte_mm.datasets.samplers.resumable_sampler import SeededIndex
from mte_mm.datasets.transforms import (DecodeMultiCrop, NUM_PARAMS,
                                        UnreadableImageError)
from mte_mm.datasets.transforms.multicrop import draft_factor
from mte_mm.models.utils.batched_photometric import apply_photometric

from ..conftest import REPO

BASES = REPO / 'configs' / '_base_' / 'datasets'
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.fixture(scope='module')
def photo_jpeg(tmp_path_factory):
    """An ImageNet-sized JPEG with smooth colours."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
    img = mmcv.imresize(coarse, (500, 375), interpolation='bicubic')
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp('jpeg') / 'photo.JPEG'
    Image.fromarray(img).save(path, quality=92)
    return str(path)


def build(transforms):
    init_default_scope('mmpretrain')
    return Compose(transforms)


def preprocessor(cfg):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.data_preprocessor)


def test_fast_pipeline_feeds_the_model_what_the_per_image_one_did(
        photo_jpeg):
    shapes, ranges, stats = {}, {}, {}
    for name in ('imagenet_dino_multicrop.py',
                 'imagenet_dino_multicrop_fast.py'):
        cfg = Config.fromfile(str(BASES / name))
        pipeline = build(cfg.train_dataloader.dataset.pipeline)
        samples = [pipeline(dict(img_path=photo_jpeg,
                                 sample_idx=SeededIndex(i, seed=100 + i)))
                   for i in range(12)]
        data = preprocessor(cfg)(default_collate(samples), True)
        views = data['inputs']
        shapes[name] = [(tuple(v.shape), v.dtype) for v in views]
        ranges[name] = (min(float(v.min()) for v in views),
                        max(float(v.max()) for v in views))
        flat = torch.cat([v.transpose(0, 1).reshape(3, -1) for v in views],
                         1)
        stats[name] = (flat.mean(1), flat.std(1))
    old, new = 'imagenet_dino_multicrop.py', 'imagenet_dino_multicrop_fast.py'
    assert shapes[new] == shapes[old] == \
        [((12, 3, 224, 224), torch.float32)] * 2 + \
        [((12, 3, 96, 96), torch.float32)] * 8
    low = min((0 - m) / s for m, s in zip(MEAN, STD))
    high = max((255 - m) / s for m, s in zip(MEAN, STD))
    for name in (old, new):
        assert low - 1e-5 <= ranges[name][0] < ranges[name][1] <= high + 1e-5
    # same augmentation distribution: per-channel statistics over 120 views
    # of one image agree to sampling noise
    assert torch.allclose(stats[new][0], stats[old][0], atol=0.15)
    assert torch.allclose(stats[new][1], stats[old][1], atol=0.15)


def test_crops_equal_mmpretrain_random_resized_crop(photo_jpeg):
    """One view, no photometric change: the crop box comes from
    mmpretrain's own sampler, and Pillow's crop-and-resize in one call
    equals crop then resize up to the decoders and the box edges."""
    fast = DecodeMultiCrop(views=[dict(size=96, crop_scale=(0.05, 0.4))],
                           draft=False)
    per_image = build([
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=96, crop_ratio_range=(0.05, 0.4),
             interpolation='bicubic', backend='pillow')])
    for seed in range(5):
        np.random.seed(seed)
        view = fast(dict(img_path=photo_jpeg))['img'][0]
        np.random.seed(seed)
        ref = per_image(dict(img_path=photo_jpeg))['img']
        ours = view.permute(1, 2, 0).numpy().astype(np.float32)
        diff = np.abs(ours - ref.astype(np.float32))
        assert view.dtype == torch.uint8 and view.shape == (3, 96, 96)
        assert diff.mean() < 1.5, seed


def test_same_seed_same_views_and_parameters(photo_jpeg):
    cfg = Config.fromfile(str(BASES / 'imagenet_dino_multicrop_fast.py'))
    pipeline = build(cfg.train_dataloader.dataset.pipeline)

    def sample(seed):
        return pipeline(dict(img_path=photo_jpeg,
                             sample_idx=SeededIndex(0, seed=seed)))

    a, b, c = sample(7), sample(7), sample(8)
    assert a['data_samples'].photometric_params.shape == (10, NUM_PARAMS)
    assert all(torch.equal(x, y) for x, y in zip(a['inputs'], b['inputs']))
    assert torch.equal(a['data_samples'].photometric_params,
                       b['data_samples'].photometric_params)
    assert not torch.equal(a['data_samples'].photometric_params,
                           c['data_samples'].photometric_params)


def test_preprocessor_applies_each_views_parameters(photo_jpeg):
    cfg = Config.fromfile(str(BASES / 'imagenet_dino_multicrop_fast.py'))
    pipeline = build(cfg.train_dataloader.dataset.pipeline)
    batch = default_collate([pipeline(dict(
        img_path=photo_jpeg, sample_idx=SeededIndex(i, seed=i)))
        for i in range(3)])
    raw = [v.clone() for v in batch['inputs']]
    out = preprocessor(cfg)(batch, True)['inputs']
    params = torch.stack([s.photometric_params
                          for s in batch['data_samples']])
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), \
        torch.tensor(STD).view(1, 3, 1, 1)
    for v in (0, 1, 5):  # views are batched by size; each gets its own
        expected = (apply_photometric(raw[v][:, [2, 1, 0]].float(),
                                      params[:, v]) - mean) / std
        assert torch.allclose(out[v], expected, atol=1e-4)


def test_preprocessor_without_parameters_is_selfsup_preprocessor():
    from mmpretrain.models.utils import SelfSupDataPreprocessor

    from mte_mm.models import MultiCropPhotometricPreprocessor
    torch.manual_seed(0)
    views = [torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
             for _ in range(2)]
    ours = MultiCropPhotometricPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    ref = SelfSupDataPreprocessor(mean=MEAN, std=STD, to_rgb=True)
    for inputs in (views, views[0]):
        a = ours(dict(inputs=inputs, data_samples=None), True)['inputs']
        b = ref(dict(inputs=inputs, data_samples=None), True)['inputs']
        pairs = zip(a, b) if isinstance(a, list) else [(a, b)]
        assert all(torch.equal(x, y) for x, y in pairs)


def test_preprocessor_refuses_views_that_do_not_match_their_parameters(
        photo_jpeg):
    from mte_mm.models import MultiCropPhotometricPreprocessor
    fast = build([DecodeMultiCrop(views=[dict(num=2, size=16,
                                              crop_scale=(0.5, 1))]),
                  dict(type='PackInputs',
                       algorithm_keys=['photometric_params'])])
    batch = default_collate([fast(dict(img_path=photo_jpeg))])
    batch['inputs'] = batch['inputs'][:1]
    with pytest.raises(ValueError, match='2 views of photometric parameters'):
        MultiCropPhotometricPreprocessor(mean=MEAN, std=STD)(batch, True)


def test_draft_decoding_when_every_crop_allows_it(tmp_path):
    assert draft_factor([(0, 0, 400, 300)], [96]) == 2
    assert draft_factor([(0, 0, 400, 300), (0, 0, 200, 200)], [96, 96]) == 2
    assert draft_factor([(0, 0, 1000, 900)], [96]) == 8
    assert draft_factor([(0, 0, 400, 300), (0, 0, 230, 230)], [96, 224]) == 1
    rng = np.random.default_rng(1)
    coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
    big = mmcv.imresize(coarse, (1600, 1200), interpolation='bicubic')
    path = str(tmp_path / 'big.JPEG')
    Image.fromarray(big.astype(np.uint8)).save(path, quality=92)
    views = [dict(num=4, size=96, crop_scale=(0.1, 0.4))]
    outputs = {}
    for draft in (True, False):
        np.random.seed(0)
        outputs[draft] = DecodeMultiCrop(views=views, draft=draft)(
            dict(img_path=path))
    assert outputs[True]['ori_shape'] == (1200, 1600)
    for a, b in zip(outputs[True]['img'], outputs[False]['img']):
        assert a.shape == b.shape == (3, 96, 96)
        assert (a.float() - b.float()).abs().mean() < 2.0  # same crop
    assert torch.equal(outputs[True]['photometric_params'],
                       outputs[False]['photometric_params'])


def test_unreadable_files_and_bad_views_are_named(tmp_path, photo_jpeg):
    truncated = tmp_path / 'cut.JPEG'
    truncated.write_bytes(open(photo_jpeg, 'rb').read()[:2000])
    text = tmp_path / 'text.JPEG'
    text.write_text('not an image')
    views = [dict(size=16, crop_scale=(0.5, 1))]
    for path, problem in ((truncated, 'truncated JPEG'),
                          (text, 'not decodable')):
        with pytest.raises(UnreadableImageError, match=problem) as info:
            DecodeMultiCrop(views=views)(dict(img_path=str(path)))
        assert str(path) in str(info.value)
        assert DecodeMultiCrop(views=views, on_unreadable='skip')(
            dict(img_path=str(path))) is None
    with pytest.raises(ValueError, match=r"views\[0\].*unknown keys "
                                         r"\['scale'\].*missing keys"):
        DecodeMultiCrop(views=[dict(size=16, scale=(0.5, 1))])
    with pytest.raises(ValueError, match='solarize_prob=2'):
        DecodeMultiCrop(views=[dict(size=16, crop_scale=(0.5, 1),
                                    photometric=dict(solarize_prob=2))])
