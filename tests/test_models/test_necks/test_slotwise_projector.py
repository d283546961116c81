"""SlotwiseProjector: one call on (..., B, S, C) slots equals one call of the
wrapped projector per slot (per_slot) or per leading index (joint):
outputs, gradients and running statistics, on one process and on two gloo
processes with synchronised BatchNorm, with one all-reduce per layer."""

import pytest
import torch
from torch import nn

from mte_mm.models import CPUSyncBatchNorm, SlotBatchNorm, SlotwiseProjector

from ...conftest import run_gloo_workers


def plain_mlp(sync=False):
    torch.manual_seed(0)
    norm = CPUSyncBatchNorm if sync else nn.BatchNorm1d
    mlp = nn.Sequential(nn.Linear(6, 8), norm(8), nn.ReLU(), nn.Linear(8, 4),
                        norm(4, affine=False))
    if not sync:
        mlp[4].momentum = None  # the cumulative average, too
    return mlp


def nonlinear_neck():
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='NonLinearNeck', in_channels=6, hid_channels=8, out_channels=4,
        num_layers=3, with_avg_pool=False, with_last_bn=True,
        norm_cfg=dict(type='BN1d')))


def call(module, rows):
    """The wrapped module's own call on ``(M, C)`` rows."""
    if type(module).__name__ == 'NonLinearNeck':
        return module((rows, ))[0]
    return module(rows)


def reference(module, slots, statistics):
    """One call per slot and leading index (per_slot) or per leading index
    (joint), in the order SlotwiseProjector's groups update the running
    statistics."""
    *lead, batch, num_slots, channels = slots.shape
    flat = slots.reshape(-1, batch, num_slots, channels)
    outs = []
    for index in range(flat.shape[0]):
        if statistics == 'per_slot':
            outs.append(torch.stack([call(module, flat[index, :, s])
                                     for s in range(num_slots)], dim=1))
        else:
            outs.append(call(module, flat[index].reshape(-1, channels)).view(
                batch, num_slots, -1))
    return torch.stack(outs).view(*lead, batch, num_slots, -1)


@pytest.mark.parametrize('statistics', ['per_slot', 'joint'])
@pytest.mark.parametrize('make', [plain_mlp, nonlinear_neck])
@pytest.mark.parametrize('lead', [(), (2, )])
def test_one_call_equals_a_call_per_group(statistics, make, lead):
    ours = SlotwiseProjector(make(), statistics=statistics)
    ref = make()
    slots = torch.randn(*lead, 5, 3, 6) * 2 + 0.5
    x = slots.clone().requires_grad_()
    x_ref = slots.clone().requires_grad_()
    for step in range(2):  # running statistics move twice
        out, out_ref = ours(x), reference(ref, x_ref, statistics)
        torch.testing.assert_close(out, out_ref)
        weights = torch.linspace(-1, 1, out.numel()).view_as(out)
        (out * weights).sum().backward()
        (out_ref * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    for (name, a), b in zip(ours.module.named_parameters(), ref.parameters()):
        # a bias before a BatchNorm has a zero gradient in exact arithmetic:
        # both sides are rounding noise of the size of the summed loss's
        torch.testing.assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4,
                                   msg=lambda m, name=name: f'{name}: {m}')
    torch.testing.assert_close(ours.module.state_dict(), ref.state_dict())
    # statistics mixed over the slots (per_slot) or kept apart (joint) differ
    other = 'joint' if statistics == 'per_slot' else 'per_slot'
    assert (reference(make(), slots, other) - out_ref).abs().max() > 1e-3
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(slots), reference(ref, slots, statistics))


def test_layers_swapped_at_build_and_state_dict_names_kept():
    mlp = plain_mlp()
    projector = SlotwiseProjector(mlp)
    assert isinstance(projector.module[1], SlotBatchNorm)
    assert not any(type(m) is nn.BatchNorm1d for m in projector.modules())
    assert projector.input_type == 'tensor'
    assert SlotwiseProjector(nonlinear_neck()).input_type == 'tuple'
    # no forward is replaced on any instance
    assert all('forward' not in vars(m) for m in projector.modules())
    # keys are the projector's under module. (0.1.0's unwrapped keys:
    # tools/model_converters/upgrade_mte_checkpoint.py)
    ref = plain_mlp()
    assert {f'module.{k}' for k in ref.state_dict()} == \
        set(projector.state_dict())
    for value in ref.state_dict().values():
        if value.is_floating_point():
            value.add_(1.0)
    projector.module.load_state_dict(ref.state_dict())
    torch.testing.assert_close(projector.module.state_dict(),
                               ref.state_dict())


def test_config_build_and_bad_input():
    from mte_mm.registry import MODELS
    projector = MODELS.build(dict(
        type='SlotwiseProjector', statistics='joint',
        module=dict(type='NonLinearNeck', in_channels=6, hid_channels=8,
                    out_channels=4, with_avg_pool=False)))
    assert projector(torch.randn(4, 2, 6)).shape == (4, 2, 4)
    with pytest.raises(ValueError, match="statistics='mixed'"):
        SlotwiseProjector(plain_mlp(), statistics='mixed')
    with pytest.raises(ValueError, match="input_type='list'"):
        SlotwiseProjector(plain_mlp(), input_type='list')
    with pytest.raises(ValueError, match=r'got shape \(4, 6\)'):
        SlotwiseProjector(plain_mlp())(torch.randn(4, 6))

    class OwnNorm(nn.BatchNorm1d):
        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(TypeError, match='cannot reproduce OwnNorm'):
        SlotwiseProjector(nn.Sequential(nn.Linear(6, 4), OwnNorm(4)))
    # a BatchNorm swapped in after the build is refused, not silently mixed
    swapped = SlotwiseProjector(plain_mlp())
    swapped.module = nn.SyncBatchNorm.convert_sync_batchnorm(swapped.module)
    with pytest.raises(RuntimeError, match='replaced after it was built'):
        swapped(torch.randn(4, 2, 6))
    bn = SlotBatchNorm(4)
    bn.num_groups = 4
    with pytest.raises(ValueError, match='batch of 6 does not split into 4'):
        bn(torch.randn(6, 4))


def _worker(rank, slots, statistics):
    from mte_mm.models.layers import slot_batch_norm
    calls = []
    real = slot_batch_norm.all_reduce

    def counting_all_reduce(tensor, *args, **kwargs):
        calls.append(tuple(tensor.shape))
        return real(tensor, *args, **kwargs)

    slot_batch_norm.all_reduce = counting_all_reduce
    projector = SlotwiseProjector(plain_mlp(sync=True), statistics=statistics)
    # uneven shards: rank 0 has 3 images, rank 1 has 2
    part = (slots[:, :3] if rank == 0 else slots[:, 3:]).clone()
    part.requires_grad_(True)
    out = projector(part)
    weights = torch.linspace(-1, 1, out.numel()).view_as(out) * (rank + 1)
    (out * weights).sum().backward()
    grads = {name: p.grad for name, p in projector.named_parameters()}
    return dict(out=out.detach(), grad=part.grad, grads=grads,
                state=projector.state_dict(), forward_calls=calls)


@pytest.mark.parametrize('statistics', ['per_slot', 'joint'])
def test_two_processes_equal_one_process_on_the_whole_batch(statistics):
    torch.manual_seed(1)
    slots = torch.randn(2, 5, 3, 6) * 2 + 0.5  # (views, B, S, C)
    results = run_gloo_workers(_worker, slots, statistics)

    ref = plain_mlp()
    ref[4].momentum = 0.1  # as the synchronised layers
    ref = SlotwiseProjector(ref, statistics=statistics)
    x = slots.clone().requires_grad_()
    out = ref(x)
    loss = 0
    for rank, part in ((0, out[:, :3]), (1, out[:, 3:])):
        weights = torch.linspace(-1, 1, part.numel()).view_as(part)
        loss = loss + (part * weights * (rank + 1)).sum()
    loss.backward()
    for rank, rows in ((0, slice(0, 3)), (1, slice(3, 5))):
        result = results[rank]
        torch.testing.assert_close(result['out'], out[:, rows].detach())
        torch.testing.assert_close(result['grad'], x.grad[:, rows])
        torch.testing.assert_close(result['state'], ref.state_dict())
        # one all-reduce per BatchNorm layer carries every group's sums
        groups = 2 * (3 if statistics == 'per_slot' else 1)
        assert result['forward_calls'] == [(2 * groups * 8 + 1, ),
                                           (2 * groups * 4 + 1, )]
    for name, param in ref.named_parameters():
        torch.testing.assert_close(
            results[0]['grads'][name] + results[1]['grads'][name],
            param.grad, atol=1e-4, rtol=1e-4,
            msg=lambda m, name=name: f'{name}: {m}')
