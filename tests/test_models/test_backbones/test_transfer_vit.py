"""TransferViT: mmpretrain's VisionTransformer plus the downstream options;
with them off it is that ViT exactly."""
import pytest
import torch
from mmpretrain.models import VisionTransformer

from mte_mm.models import TransferViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)


@pytest.mark.parametrize('out', [dict(out_type='raw', out_indices=[0, 2]),
                                 dict(out_type='cls_token'),
                                 dict(out_type='featmap', final_norm=False),
                                 dict(out_type='avg_featmap')])
def test_equals_mmpretrain_vit_with_the_options_off(out):
    torch.manual_seed(0)
    kwargs = dict(arch=ARCH, img_size=32, patch_size=8, **out)
    ours, theirs = TransferViT(**kwargs), VisionTransformer(**kwargs)
    theirs.init_weights()
    # the same keys: a plain ViT checkpoint (the export) loads strictly
    ours.load_state_dict(theirs.state_dict())
    ours.eval(), theirs.eval()
    x = torch.randn(2, 3, 40, 32)  # another size: position interpolation
    for got, want in zip(ours(x), theirs(x), strict=True):
        torch.testing.assert_close(got, want)
