"""ViTDet window attention equals running the block on each window's crop
alone; the padding never leaks in."""
import pytest
import torch

from mte_mm.models import MTEVisionTransformer, TransferViT
from mte_mm.models.layers.window_attention import (window_block,
                                                   window_partition,
                                                   window_unpartition)

ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)


@pytest.mark.parametrize('hw', [(4, 6), (5, 7)])  # without / with padding
def test_partition_round_trip_and_mask(hw):
    grid = torch.randn(2, *hw, 8)
    windows, mask = window_partition(grid, 2)
    rows, cols = -(-hw[0] // 2), -(-hw[1] // 2)
    assert windows.shape == (2 * rows * cols, 4, 8)
    torch.testing.assert_close(window_unpartition(windows, 2, hw), grid)
    if hw == (4, 6):
        assert mask is None
    else:  # the real tokens are exactly the non-zero-padded ones
        assert mask.shape == (2 * rows * cols, 1, 1, 4)
        assert int(mask.sum()) == 2 * hw[0] * hw[1]
        torch.testing.assert_close(windows[~mask[:, 0, 0]],
                                   torch.zeros(int((~mask).sum()), 8))


def reference_window_block(layer, x, hw, window):
    """Each window's crop (edge windows smaller) through the plain block."""
    cls, patches = x[:, :1], x[:, 1:]
    grid = patches.reshape(x.shape[0], *hw, -1)
    out = torch.empty_like(grid)
    for top in range(0, hw[0], window):
        for left in range(0, hw[1], window):
            crop = grid[:, top:top + window, left:left + window]
            tokens = layer(crop.reshape(x.shape[0], -1, x.shape[2]))
            out[:, top:top + window, left:left + window] = tokens.reshape(
                crop.shape)
    return torch.cat([cls, out.reshape(x.shape[0], -1, x.shape[2])], 1)


@pytest.mark.parametrize('hw', [(4, 6), (5, 7)])
def test_window_block_equals_per_window_reference(hw):
    torch.manual_seed(0)
    model = TransferViT(arch=ARCH, img_size=32, patch_size=8)
    model.init_weights()
    model.eval()
    layer = model.layers[0]
    x = torch.randn(2, 1 + hw[0] * hw[1], 32)
    torch.testing.assert_close(window_block(layer, x, hw, 2),
                               reference_window_block(layer, x, hw, 2))


def test_backbone_windows_in_all_but_the_global_blocks():
    torch.manual_seed(0)
    kwargs = dict(arch=ARCH, img_size=40, patch_size=8, out_type='raw',
                  final_norm=False)
    model = TransferViT(window_size=2, global_attn_indices=[-1], **kwargs)
    model.init_weights()
    model.eval()
    x = torch.randn(2, 3, 40, 40)  # 5 x 5 patches: padded windows
    # the embedding of mmpretrain's ViT (CLS token, position embedding)
    patches, hw = model.patch_embed(x)
    tokens = torch.cat([model.cls_token.expand(2, -1, -1), patches], 1) + \
        model.pos_embed
    for i, layer in enumerate(model.layers):
        tokens = layer(tokens) if i == 2 else reference_window_block(
            layer, tokens, hw, 2)
    torch.testing.assert_close(model(x)[0], tokens)
    # window_size=0 is the global-attention model with the same weights
    plain = TransferViT(**kwargs)
    plain.load_state_dict(model.state_dict())
    plain.eval()
    assert not torch.allclose(plain(x)[0], tokens, atol=1e-3)


def test_window_arguments_are_checked():
    with pytest.raises(ValueError, match='block 12 does not exist'):
        TransferViT(arch=ARCH, window_size=2, global_attn_indices=[12])
    with pytest.raises(ValueError, match='window_size must be >= 0'):
        TransferViT(arch=ARCH, window_size=-1)
    # pretraining backbones have no window option: it names where it went
    with pytest.raises(TypeError, match='window_size moved to the '
                                        "downstream backbone type='mte_mm"
                                        ".TransferViT'"):
        MTEVisionTransformer(arch=ARCH, window_size=2)
