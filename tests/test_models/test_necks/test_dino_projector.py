import copy

import torch
import torch.nn.functional as F

from mte_mm.models import DINOProjector


def test_head_shapes_and_weight_norm_formula():
    torch.manual_seed(0)
    head = DINOProjector(in_channels=16, out_channels=40, hidden_channels=24,
                         bottleneck_channels=8)
    x = torch.randn(3, 5, 16)  # (batch, slots, dims)
    out = head(x)
    assert out.shape == (3, 5, 40)
    last = head.last_layer
    # with norm_last_layer the rows of the effective weight are unit vectors
    torch.testing.assert_close(last.weight.norm(dim=1), torch.ones(40))
    bottleneck = F.normalize(head.mlp(x.reshape(-1, 16)), dim=-1)
    ref = bottleneck @ (last.weight_v / last.weight_v.norm(dim=1,
                                                           keepdim=True)).T
    torch.testing.assert_close(out.reshape(-1, 40), ref)
    assert not last.weight_g.requires_grad
    assert DINOProjector(16, 40, norm_last_layer=False).last_layer.weight_g \
        .requires_grad


def test_head_survives_deepcopy():
    head = DINOProjector(in_channels=16, out_channels=40, hidden_channels=24,
                         bottleneck_channels=8)
    clone = copy.deepcopy(head)
    x = torch.randn(2, 16)
    torch.testing.assert_close(clone(x), head(x))
    with torch.no_grad():
        clone.last_layer.weight_v.add_(1.0)
    assert not torch.allclose(clone(x), head(x))  # independent parameters
