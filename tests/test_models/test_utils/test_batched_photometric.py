"""The batched device-side photometric augmentation against the per-image
CPU transforms it replaces (mmpretrain / mmcv / Pillow), with the same
per-view parameters; the parameter draws against DINO's recipe.

Tolerances: Pillow works in uint8 and rounds after every operation, the
batched version in float, so single operations differ by at most one grey
level; the hue rotation goes through Pillow's 8-bit HSV, which is coarser.
Pillow's Gaussian blur is three box blurs approximating the Gaussian that is
computed here."""
import itertools
from collections import Counter

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import RandomGrayscale
from mmpretrain.datasets.transforms import GaussianBlur

from mte_mm.datasets.transforms import (NUM_PARAMS, PARAM_INDEX,
                                        PhotometricRecipe)
from mte_mm.models.utils import batched_photometric as bp


def smooth_image(seed, height=48, width=40):
    """A uint8 BGR image with smooth colour gradients and some texture (a
    natural image's range of hues and saturations)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.float32)
    img = mmcv.imresize(coarse, (width, height), interpolation='bicubic')
    img = img + rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def to_batch(images):
    """uint8 BGR HWC images -> float RGB (B, 3, H, W)."""
    return torch.stack([torch.from_numpy(np.ascontiguousarray(
        im[..., ::-1].transpose(2, 0, 1))) for im in images]).float()


def to_bgr(x):
    return x.permute(1, 2, 0).numpy()[..., ::-1]


def neutral(batch):
    params = torch.zeros(batch, NUM_PARAMS)
    params[:, PARAM_INDEX['brightness']] = 1
    params[:, PARAM_INDEX['contrast']] = 1
    params[:, PARAM_INDEX['saturation']] = 1
    params[:, PARAM_INDEX['order_0']:PARAM_INDEX['order_3'] + 1] = \
        torch.arange(4.)
    return params


def cpu_reference(img, p):
    """The per-image pipeline of our ImageNet configs, with the parameters
    forced: mmcv's functions in mmpretrain's order."""
    p = {name: float(p[i]) for name, i in PARAM_INDEX.items()}
    if p['flip']:
        img = mmcv.imflip(img)
    if p['jitter']:
        for position in range(4):
            op = int(p[f'order_{position}'])
            if op == 0:
                img = mmcv.adjust_brightness(img, p['brightness'],
                                             backend='pillow')
            elif op == 1:
                img = mmcv.adjust_contrast(img, p['contrast'],
                                           backend='pillow')
            elif op == 2:
                img = mmcv.adjust_color(img, p['saturation'],
                                        backend='pillow')
            else:
                img = mmcv.adjust_hue(img, p['hue'], backend='pillow')
    if p['grayscale']:
        img = grayscale_cpu(img)
    if p['blur_sigma'] > 0:
        img = GaussianBlur(radius=p['blur_sigma'], prob=1.0)(
            dict(img=img))['img']
    if p['solarize']:
        img = mmcv.solarize(img, 128)
    return img


def grayscale_cpu(img):
    return RandomGrayscale(prob=1.0, keep_channels=True,
                           channel_weights=(0.114, 0.587, 0.2989))(
        dict(img=img))['img']


def batched(images, params):
    out = bp.apply_photometric(to_batch(images), params)
    return [to_bgr(x) for x in out]


@pytest.mark.parametrize('name, value, max_diff', [
    ('brightness', 1.37, 1.0), ('brightness', 0.61, 1.0),
    ('contrast', 1.33, 1.0), ('contrast', 0.62, 1.0),
    # saturation: Pillow blends with its uint8-rounded grey image
    ('saturation', 1.19, 1.5), ('saturation', 0.81, 1.5),
])
def test_each_jitter_operation_equals_pillow_to_rounding(name, value,
                                                         max_diff):
    images = [smooth_image(s) for s in range(3)]
    params = neutral(3)
    params[:, PARAM_INDEX['jitter']] = 1
    params[:, PARAM_INDEX[name]] = value
    op = {'brightness': mmcv.adjust_brightness,
          'contrast': mmcv.adjust_contrast,
          'saturation': mmcv.adjust_color}[name]
    for img, out in zip(images, batched(images, params)):
        ref = op(img, value, backend='pillow').astype(np.float32)
        assert np.abs(out - ref).max() <= max_diff + 1e-4


@pytest.mark.parametrize('hue', [0.09, -0.07, 0.02])
def test_hue_equals_pillow_to_its_8_bit_hsv(hue):
    images = [smooth_image(s) for s in range(3)]
    params = neutral(3)
    params[:, PARAM_INDEX['jitter']] = 1
    params[:, PARAM_INDEX['hue']] = hue
    for img, out in zip(images, batched(images, params)):
        ref = mmcv.adjust_hue(img, hue, backend='pillow').astype(np.float32)
        diff = np.abs(out - ref)
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 6.0
        # the rotation itself is large: far from the unrotated image
        if hue != 0.02:
            assert np.abs(out - img).mean() > 4 * diff.mean()


def test_flip_grayscale_solarize_equal_mmcv():
    images = [smooth_image(s) for s in range(4)]
    params = neutral(4)
    params[:, PARAM_INDEX['flip']] = torch.tensor([1., 0, 1, 0])
    params[:, PARAM_INDEX['grayscale']] = torch.tensor([1., 1, 0, 0])
    params[:, PARAM_INDEX['solarize']] = torch.tensor([0., 1, 1, 0])
    for img, p, out in zip(images, params, batched(images, params)):
        ref = cpu_reference(img, p).astype(np.float32)
        # grayscale: mmcv truncates to uint8
        assert np.abs(out - ref).max() <= 1.0 + 1e-4
    assert np.array_equal(batched(images[3:], params[3:])[0], images[3])


@pytest.mark.parametrize('sigma', [0.1, 0.7, 1.3, 2.0])
def test_blur_equals_pillow_to_its_box_approximation(sigma):
    images = [smooth_image(s) for s in range(2)]
    params = neutral(2)
    params[:, PARAM_INDEX['blur_sigma']] = sigma
    for img, out in zip(images, batched(images, params)):
        ref = GaussianBlur(radius=sigma, prob=1.0)(dict(img=img))['img']
        diff = np.abs(out - ref.astype(np.float32))
        assert diff.mean() < 0.8 and diff.max() <= 6.0
        if sigma >= 1:  # and it does blur
            assert np.abs(out - img).mean() > 2 * diff.mean()


def test_whole_augmentation_with_drawn_parameters_equals_per_image():
    """Every view with its own drawn parameters (random orders, mixed
    operations) in one batch, against the per-image pipeline."""
    recipe = PhotometricRecipe(blur_prob=0.5, solarize_prob=0.2)
    np.random.seed(3)
    params = torch.from_numpy(np.stack([recipe.draw() for _ in range(24)]))
    images = [smooth_image(s) for s in range(24)]
    diffs = []
    for img, p, out in zip(images, params, batched(images, params)):
        ref = cpu_reference(img, p).astype(np.float32)
        diffs.append(np.abs(out - ref))
    diffs = np.stack(diffs)
    # several rounded operations in a row, the hue's 8-bit HSV and the
    # blur's box approximation; solarize flips the pixels the rounding puts
    # on the other side of 128 (a few in a thousand)
    assert diffs.mean() < 1.2
    assert np.percentile(diffs, 99) <= 6.0
    assert (diffs > 20).mean() < 0.005
    # and the augmentation does something: most views changed a lot
    changed = [np.abs(out - img).mean() > 3 for img, out in
               zip(images, batched(images, params))]
    assert sum(changed) >= 18


def test_views_not_selected_are_untouched_and_shapes_checked():
    images = [smooth_image(s) for s in range(3)]
    params = neutral(3)
    params[1, PARAM_INDEX['jitter']] = 1
    params[1, PARAM_INDEX['brightness']] = 1.3
    out = bp.apply_photometric(to_batch(images), params)
    assert torch.equal(out[0], to_batch(images)[0])
    assert torch.equal(out[2], to_batch(images)[2])
    assert not torch.equal(out[1], to_batch(images)[1])
    with pytest.raises(ValueError, match='do not match'):
        bp.apply_photometric(to_batch(images), params[:2])


def test_parameter_statistics_match_the_recipe():
    recipe = PhotometricRecipe(blur_prob=0.5, solarize_prob=0.2)
    np.random.seed(0)
    n = 20000
    draws = np.stack([recipe.draw() for _ in range(n)])
    col = {name: draws[:, i] for name, i in PARAM_INDEX.items()}

    def close(frequency, p):  # within 4 standard errors
        return abs(frequency - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-9

    assert close((col['flip'] == 1).mean(), 0.5)
    jitter = col['jitter'] == 1
    assert close(jitter.mean(), 0.8)
    assert close((col['grayscale'] == 1).mean(), 0.2)
    assert close((col['blur_sigma'] > 0).mean(), 0.5)
    assert close((col['solarize'] == 1).mean(), 0.2)
    for name, (low, high) in (('brightness', (0.6, 1.4)),
                              ('contrast', (0.6, 1.4)),
                              ('saturation', (0.8, 1.2)),
                              ('hue', (-0.1, 0.1))):
        values = col[name][jitter]
        assert low <= values.min() and values.max() <= high
        # uniform: the deciles of U(low, high)
        deciles = np.quantile(values, np.linspace(0.1, 0.9, 9))
        expected = low + (high - low) * np.linspace(0.1, 0.9, 9)
        assert np.abs(deciles - expected).max() < 0.02 * (high - low)
        # without jitter the factors are neutral
        assert np.all(col[name][~jitter] == (0.0 if name == 'hue' else 1.0))
    sigma = col['blur_sigma'][col['blur_sigma'] > 0]
    assert 0.1 <= sigma.min() and sigma.max() <= 2.0
    assert abs(np.median(sigma) - 1.05) < 0.05
    # random order: every one of the 24 permutations, equally often
    orders = Counter(map(tuple, draws[:, PARAM_INDEX['order_0']:
                                      PARAM_INDEX['order_3'] + 1]
                         .astype(int)))
    assert set(orders) == set(itertools.permutations(range(4)))
    expected = n / 24
    assert all(abs(c - expected) < 5 * np.sqrt(expected)
               for c in orders.values())


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match='blur_prob=1.5'):
        PhotometricRecipe(blur_prob=1.5)
    with pytest.raises(ValueError, match='hue=0.7'):
        PhotometricRecipe(hue=0.7)
    with pytest.raises(ValueError, match='blur_sigma'):
        PhotometricRecipe(blur_sigma=(0.0, 1.0))


def test_a_views_result_does_not_depend_on_its_batch_mates():
    """One image augmented alone and beside others (different sigmas, so a
    different kernel size for the batch) gives the same pixels: a process's
    batch split must not change the augmentation (DDP parity)."""
    recipe = PhotometricRecipe(blur_prob=1.0, solarize_prob=0.2)
    np.random.seed(5)
    params = torch.from_numpy(np.stack([recipe.draw() for _ in range(6)]))
    params[0, PARAM_INDEX['blur_sigma']] = 0.3  # small kernel alone
    params[1, PARAM_INDEX['blur_sigma']] = 2.0  # the batch's largest
    images = to_batch([smooth_image(s) for s in range(6)])
    together = bp.apply_photometric(images, params)
    for i in range(6):
        alone = bp.apply_photometric(images[i:i + 1], params[i:i + 1])
        assert torch.allclose(alone[0], together[i], atol=1e-4), i
