"""IBOTBlockMasks: iBOT's per-crop block masks, by their statistics over
many draws, and carried through a real multi-crop pipeline."""
import numpy as np
import pytest
import torch

from mte_mm.datasets import IBOTBlockMasks

DRAWS = 3000


@pytest.fixture(scope='module')
def draws():
    """(ratio, mask) of DRAWS crops on a 14 x 14 grid (224 px, 16 px)."""
    masks = IBOTBlockMasks()
    np.random.seed(0)
    out = []
    for _ in range(DRAWS):
        ratio = masks.draw_ratio()
        out.append((ratio, masks.block_mask(14, 14, ratio)))
    return out


def test_ratio_per_crop_and_masked_count(draws):
    unmasked = [m for r, m in draws if r == 0]
    # the recipe: unmasked with probability 0.5, else r ~ U(0.1, 0.5)
    assert abs(len(unmasked) / DRAWS - 0.5) < 0.04
    assert not any(m.any() for m in unmasked)
    masked = [(r, m) for r, m in draws if r > 0]
    assert all(0.1 <= r <= 0.5 for r, _ in masked)
    achieved = np.array([m.sum() / (r * 196) for r, m in masked])
    assert achieved.max() <= 1.0  # never more than the target
    assert achieved.mean() > 0.9  # blocks fill the target closely
    # E[r] = 0.3: about 0.3 * 196 = 59 patches, a little less achieved
    assert 50 < np.mean([m.sum() for _, m in masked]) <= 59
    # blocks: a masked patch mostly has a masked 4-neighbour
    r, m = masked[0]
    padded = np.pad(m, 1)
    neighbours = padded[:-2, 1:-1] | padded[2:, 1:-1] | \
        padded[1:-1, :-2] | padded[1:-1, 2:]
    assert (neighbours[m]).mean() > 0.9


def test_every_position_is_masked_and_no_side_is_favoured(draws):
    masked = [m for r, m in draws if r > 0]
    freq = np.mean(masked, axis=0)
    # iBOT places a block uniformly where it fits, so a border patch is
    # covered by fewer placements than a central one; but every patch,
    # the last row and column included (mmpretrain's BEiTMaskGenerator
    # never masks them), is masked, and mirrored positions equally often
    assert freq.min() > 0.01
    assert freq[-1].mean() > 0.05 and freq[:, -1].mean() > 0.05
    for mirrored in (freq[::-1], freq[:, ::-1], freq.T):
        assert np.abs(freq - mirrored).max() < 0.05
    assert abs(freq[0].mean() - freq[-1].mean()) < 0.02
    assert abs(freq[:, 0].mean() - freq[:, -1].mean()) < 0.02


def test_pipeline_gives_each_crop_its_mask_and_a_seed_fixes_them(
        image_folder):
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    import mte_mm  # noqa: F401
    init_default_scope('mmpretrain')
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=[2, 3],
             transforms=[[dict(type='RandomResizedCrop', scale=224)],
                         [dict(type='RandomResizedCrop', scale=96)]]),
        dict(type='IBOTBlockMasks', patch_size=16),
        dict(type='PackInputs', algorithm_keys=['masks']),
    ])
    path = str(next((image_folder / 'train' / 'n0001').iterdir()))

    def sample(seed):
        np.random.seed(seed)
        return pipeline(dict(img_path=path))

    packed = sample(0)
    masks = packed['data_samples'].masks
    assert [tuple(m.shape) for m in masks] == [(14, 14)] * 2 + [(6, 6)] * 3
    assert all(m.dtype == torch.bool for m in masks)
    assert len(packed['inputs']) == 5
    for a, b in zip(masks, sample(0)['data_samples'].masks):
        assert torch.equal(a, b)
    draws = [sample(s)['data_samples'].masks[0] for s in range(1, 30)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r'0.3 \+- 0.4'):
        IBOTBlockMasks(pred_ratio=(0.3, ), pred_ratio_var=(0.4, ))
    with pytest.raises(ValueError, match='same, non-zero length'):
        IBOTBlockMasks(pred_ratio=(0.3, ), pred_ratio_var=(0.1, 0.2))
    with pytest.raises(TypeError, match='after MultiView or DecodeMultiCrop'):
        IBOTBlockMasks()(dict(img=np.zeros((32, 32, 3), np.uint8)))
