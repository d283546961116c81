import torch
import torch.nn.functional as F

from mte_mm.models import IBOTProjector


def test_patch_path_shares_the_mlp_and_optionally_the_last_layer():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    shared = IBOTProjector(in_channels=8, out_channels=12, hidden_channels=16,
                           bottleneck_channels=4)
    torch.testing.assert_close(shared.forward_patches(x), shared(x))
    separate = IBOTProjector(in_channels=8, out_channels=12,
                             hidden_channels=16, bottleneck_channels=4,
                             patch_out_channels=20, shared_last_layer=False,
                             norm_last_layer=False)
    out = separate.forward_patches(x)
    assert out.shape == (2, 5, 20) and separate(x).shape == (2, 5, 12)
    # by hand: the shared MLP, L2 norm, the patch layer's g * v / |v|
    bottleneck = F.normalize(separate.mlp(x), dim=-1)
    torch.testing.assert_close(
        out, bottleneck @ separate.patch_last_layer.weight.T)
    assert separate.patch_last_layer.weight_g.requires_grad  # norm not fixed
    assert separate.forward_patches(x[:0]).shape == (0, 5, 20)
