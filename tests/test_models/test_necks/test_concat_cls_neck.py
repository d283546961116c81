import pytest
import torch

from mte_mm.models import ConcatCLSNeck, TransferViT

ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=64)


def test_intermediate_outputs_are_normed_like_dino():
    torch.manual_seed(0)
    kwargs = dict(arch=ARCH, img_size=32, patch_size=8, out_indices=[1, 2],
                  out_type='raw')
    normed = TransferViT(norm_intermediate=True, **kwargs)
    plain = TransferViT(**kwargs)
    plain.load_state_dict(normed.state_dict())
    normed.eval()
    plain.eval()
    x = torch.randn(2, 3, 32, 32)
    out_normed, out_plain = normed(x), plain(x)
    torch.testing.assert_close(out_normed[0], normed.ln1(out_plain[0]))
    torch.testing.assert_close(out_normed[1], out_plain[1])  # last: as before


def test_neck_concatenates_cls_tokens_and_avg_pool():
    blocks = [torch.randn(2, 5, 8) for _ in range(3)]
    out, = ConcatCLSNeck(num_blocks=2)(blocks)
    torch.testing.assert_close(out, torch.cat([blocks[1][:, 0],
                                               blocks[2][:, 0]], -1))
    out, = ConcatCLSNeck(num_blocks=1, with_avg_pool=True)(blocks)
    torch.testing.assert_close(out, torch.cat([blocks[2][:, 0],
                                               blocks[2][:, 1:].mean(1)], -1))
    with pytest.raises(ValueError, match='needs 4 backbone outputs'):
        ConcatCLSNeck(num_blocks=4)(blocks)
    with pytest.raises(ValueError, match="out_type='raw'"):
        ConcatCLSNeck(num_blocks=1)([torch.randn(2, 8)])
