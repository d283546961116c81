"""CPUSyncBatchNorm equals BatchNorm over the whole distributed batch."""
import pytest
import torch
from torch import nn

from mte_mm.models import CPUSyncBatchNorm

from ...conftest import run_gloo_workers


def _bn_pair(channels=3, **kwargs):
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(channels, **kwargs)
    if ref.affine:
        nn.init.uniform_(ref.weight, 0.5, 1.5)
        nn.init.uniform_(ref.bias, -0.5, 0.5)
    sync = CPUSyncBatchNorm(channels, **kwargs)
    sync.load_state_dict(ref.state_dict())  # same names as nn.BatchNorm2d
    return ref, sync


@pytest.mark.parametrize('momentum', [0.1, None])
def test_single_process_equals_batchnorm(momentum):
    ref, sync = _bn_pair(momentum=momentum)
    x = torch.randn(4, 3, 5, 5) * 3 + 1
    for _ in range(2):
        torch.testing.assert_close(sync(x), ref(x))
    torch.testing.assert_close(sync.state_dict(), ref.state_dict())
    ref.eval(), sync.eval()
    torch.testing.assert_close(sync(x), ref(x))


def _worker(rank, momentum, batch):
    _, sync = _bn_pair(momentum=momentum)
    for step in range(2):
        # uneven shards (rank 0: 3 samples, rank 1: 1) and a new batch per
        # step
        x = (batch[step][:3] if rank == 0 else batch[step][3:]).clone()
        x.requires_grad_(True)
        out = sync(x)
        # a loss that weights every output differently
        weights = torch.linspace(-1, 1, out.numel()).view_as(out)
        (out * weights * (rank + 1)).sum().backward()
    return dict(out=out.detach(), grad_x=x.grad, grad_w=sync.weight.grad,
                grad_b=sync.bias.grad, state=sync.state_dict())


@pytest.mark.parametrize('momentum', [0.1, None])
def test_two_processes_equal_batchnorm_on_the_whole_batch(momentum):
    torch.manual_seed(1)
    batch = [torch.randn(4, 3, 5, 5) * 2 + 0.5 for _ in range(2)]
    results = run_gloo_workers(_worker, momentum, batch)

    ref, _ = _bn_pair(momentum=momentum)
    for step in range(2):
        x = batch[step].clone().requires_grad_(True)
        out = ref(x)
        # the same per-rank losses, summed: what the two ranks optimise
        loss = 0
        for rank, part in ((0, out[:3]), (1, out[3:])):
            weights = torch.linspace(-1, 1, part.numel()).view_as(part)
            loss = loss + (part * weights * (rank + 1)).sum()
        loss.backward()  # parameter gradients accumulate, as in the workers
    torch.testing.assert_close(results[0]['out'], out[:3].detach())
    torch.testing.assert_close(results[1]['out'], out[3:].detach())
    torch.testing.assert_close(results[0]['grad_x'], x.grad[:3])
    torch.testing.assert_close(results[1]['grad_x'], x.grad[3:])
    # parameter gradients: each rank holds its own loss's part (DDP then
    # averages them); the two sum to the whole-batch gradient
    for name, param in (('grad_w', ref.weight), ('grad_b', ref.bias)):
        torch.testing.assert_close(
            results[0][name] + results[1][name], param.grad)
    for rank in (0, 1):  # identical running statistics on every rank
        torch.testing.assert_close(results[rank]['state'], ref.state_dict())
