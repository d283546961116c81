"""ViewGroups (the heads' one input type) and ViewPolicy."""
import pytest
import torch

from mte_mm.models import DINOSlotHead, MoCoV3SlotHead
from mte_mm.models.utils import EncodedViews, ViewGroups, ViewPolicy


def test_view_groups_read_views_not_forwards():
    torch.manual_seed(0)
    full = torch.randn(5, 3, 4, 6)  # (V, B, S, D)
    grouped = ViewGroups([full[:2], full[2:]])
    assert grouped.num_views == 5 and grouped.num_slots == 4
    torch.testing.assert_close(grouped.cat(), full)
    torch.testing.assert_close(torch.stack(grouped.split()), full)
    torch.testing.assert_close(grouped.first(3), full[:3])
    torch.testing.assert_close(grouped.sum(), full.sum(0))
    torch.testing.assert_close(grouped.like(full * 2).cat(), full * 2)
    assert [g.shape[0] for g in grouped.like(full).groups] == [2, 3]
    torch.testing.assert_close(grouped.map(torch.neg).cat(), -full)
    torch.testing.assert_close(ViewGroups.of(full).cat(), full)
    assert ViewGroups.of(grouped) is grouped

    # local views with the global slot only: slots() keeps the views that
    # have the asked slots
    mixed = ViewGroups([full[:2], full[2:, :, :1]])
    torch.testing.assert_close(mixed.slots(slice(0, 1)).cat(),
                               full[:, :, :1])
    torch.testing.assert_close(mixed.slots(slice(1, None)).cat(),
                               full[:2, :, 1:])
    with pytest.raises(ValueError, match='different slot counts'):
        mixed.cat()
    with pytest.raises(ValueError, match='fewer slots must come last'):
        ViewGroups([full[:2, :, :1], full[2:]])
    with pytest.raises(ValueError, match='3 views asked, 2 held'):
        ViewGroups([full[:2]]).first(3)


def test_heads_give_the_same_loss_however_views_are_grouped():
    torch.manual_seed(0)
    dino = DINOSlotHead(out_channels=6, num_slots=2)
    student, teacher = torch.randn(4, 3, 2, 6), torch.randn(2, 3, 2, 6)
    one = dino.loss(dino.predictions(student), dino.targets(teacher))
    split = dino.loss(dino.predictions(ViewGroups(
        [student[:1], student[1:3], student[3:]])), dino.targets(teacher))
    torch.testing.assert_close(split, one)
    moco = MoCoV3SlotHead(predictor=dict(
        type='NonLinearNeck', in_channels=6, hid_channels=8, out_channels=6,
        with_avg_pool=False))
    q, k = torch.randn(2, 3, 2, 6), torch.randn(2, 3, 2, 6)
    one = moco.loss(moco.predictions(q), moco.targets(k))
    split = moco.loss(moco.predictions(ViewGroups([q[:1], q[1:]])),
                      moco.targets(k))
    torch.testing.assert_close(split, one)


def test_view_policy():
    dino = ViewPolicy(teacher_views=2, aux_views='teacher',
                      share_forward=True)
    inputs = [torch.zeros(1)] * 5
    assert dino.num_teacher_views(inputs) == 2
    assert dino.global_only_from(inputs, num_slots=3) == 2
    assert dino.global_only_from(inputs, num_slots=1) is None
    assert ViewPolicy().num_teacher_views(inputs) == 5
    assert ViewPolicy().global_only_from(inputs, num_slots=3) is None
    with pytest.raises(ValueError, match='MTEX needs a list of 2 views, '
                                         'got 5'):
        ViewPolicy(num_views=2).check(inputs, 'MTEX')
    with pytest.raises(ValueError, match='needs a list of >= 2 views, got '
                                         'Tensor'):
        dino.check(torch.zeros(1), 'MTEX')
    with pytest.raises(ValueError, match="aux_views must be one of"):
        ViewPolicy(aux_views='global')
    with pytest.raises(ValueError, match='teacher_views=3 > num_views=2'):
        ViewPolicy(teacher_views=3, num_views=2)


def test_view_policy_forwards():
    """Same-size views share a forward only with ``share_forward``, and
    never across the first view that gets the global slot only."""
    big, small = torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 4, 4)
    crops = [big, big, big, small, small]
    dino = ViewPolicy(teacher_views=2, aux_views='teacher',
                      share_forward=True)
    assert dino.forwards(crops, num_slots=3) == [
        (0, 2, False), (2, 3, True), (3, 5, True)]
    assert dino.forwards(crops, num_slots=1) == [(0, 3, False),
                                                 (3, 5, False)]
    assert ViewPolicy().forwards(crops[:2], num_slots=3) == [
        (0, 1, False), (1, 2, False)]


def test_encoded_views_read_keys_by_view():
    """Per-forward ``(V_g * B, ...)`` outputs read as views of any key;
    ``first`` keeps the first views' rows and per-view inputs."""
    batch = 3
    a = dict(slots=torch.randn(2 * batch, 4, 5), hw=(2, 2))
    b = dict(slots=torch.randn(3 * batch, 1, 5), hw=(1, 1))
    given = dict(mask=torch.rand(2, batch, 7) > 0.5)
    out = EncodedViews([a, b], batch, given)
    assert out.num_views == 5 and out.group_sizes == [2, 3]
    views = out.views('slots')
    assert [tuple(g.shape) for g in views.groups] == [(2, 3, 4, 5),
                                                      (3, 3, 1, 5)]
    torch.testing.assert_close(views.groups[1][2], b['slots'][6:9])
    one = out.first(1)
    assert one.num_views == 1 and one.groups[0]['hw'] == (2, 2)
    torch.testing.assert_close(one.views('slots').cat()[0],
                               a['slots'][:batch])
    assert one.view_kwargs['mask'].shape == (1, batch, 7)
    assert out.first(5) is out
    three = out.first(3)
    assert three.group_sizes == [2, 1]
    x = torch.randn(batch, 2, requires_grad=True)
    assert not EncodedViews([dict(t=x * 2)], batch).detach().groups[0][
        't'].requires_grad


def test_loss_per_slot_counts_each_slot_on_the_views_that_have_it():
    """Views with the global slot only (DINO's local crops) count for the
    global slot; the other slots come from the fuller views alone."""
    torch.manual_seed(0)
    dino = DINOSlotHead(out_channels=6, num_slots=3)
    full, local = torch.randn(2, 4, 3, 6), torch.randn(3, 4, 1, 6)
    teacher = dino.targets(torch.randn(2, 4, 3, 6))
    mixed = dino.predictions(ViewGroups([full, local]))
    got = dino.loss_per_slot(mixed, teacher)
    want_global = dino.loss(dino.predictions(torch.cat(
        [full[:, :, :1], local])), teacher[:, :, :1])
    want_rest = dino.loss(dino.predictions(full[:, :, 1:]),
                          teacher[:, :, 1:])
    torch.testing.assert_close(got, torch.cat([want_global, want_rest]))
    same = dino.predictions(full)
    torch.testing.assert_close(dino.loss_per_slot(same, teacher),
                               dino.loss(same, teacher))
