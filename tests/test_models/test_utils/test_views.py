"""ViewGroups (the heads' one input type) and ViewPolicy."""
import pytest
import torch

from mte_mm.models import DINOSlotHead, MoCoV3SlotHead
from mte_mm.models.utils import ViewGroups, ViewPolicy


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
