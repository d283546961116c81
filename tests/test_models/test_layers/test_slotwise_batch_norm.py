"""slotwise_batch_norm: one call over G groups of a batch computes what G
separate calls compute (outputs, gradients, running statistics)."""
import copy

import pytest
import torch
from torch import nn

from mte_mm.models.layers import grouped_batch_norm, slotwise_batch_norm


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Linear(8, 4), nn.BatchNorm1d(4, affine=False,
                                                         momentum=None))


def test_one_call_equals_a_call_per_group():
    ours, ref = mlp(), mlp()
    x = torch.randn(3 * 5, 6, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    for step in range(2):  # the cumulative running average moves twice
        with slotwise_batch_norm(ours, 3):
            out = ours(x)
        out_ref = torch.cat([ref(part) for part in x_ref.chunk(3)])
        torch.testing.assert_close(out, out_ref)
        (out * torch.arange(4.)).sum().backward()
        (out_ref * torch.arange(4.)).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    for (name, a), b in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
    for (name, a), b in zip(ours.named_buffers(), ref.buffers()):
        torch.testing.assert_close(a, b, msg=name)
    # mixed statistics would differ: the grouping is what makes it equal
    assert (mlp()(x) - out_ref).abs().max() > 1e-3
    # the layers are themselves again after the context
    assert all('forward' not in vars(m) for m in ours.modules())


def test_eval_mode_and_bad_split():
    bn = nn.BatchNorm1d(4)
    bn.running_mean.fill_(1.0)
    bn.eval()
    x = torch.randn(6, 4)
    torch.testing.assert_close(grouped_batch_norm(bn, x, 3),
                               copy.deepcopy(bn)(x))
    bn.train()
    with pytest.raises(ValueError, match='batch of 6 does not split into 4'):
        grouped_batch_norm(bn, x, 4)
