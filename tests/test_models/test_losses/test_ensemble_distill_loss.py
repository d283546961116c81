"""The ensemble designs of EnsembleDistillLoss, each against its formula
written out here (DINO's loss by hand: ``reference_dino_loss``)."""
import math

import pytest
import torch
import torch.nn.functional as F

from mte_mm.models import DINOSlotHead, EnsembleDistillLoss, MoCoV3SlotHead
from mte_mm.models.losses.ensemble_distill_loss import entropy_weights
from mte_mm.models.utils.slot_layout import SlotLayout

LAYOUT = SlotLayout(num_aux=2, num_pooled=1)  # slots g, a0, a1, p0
D = 12


def tensors(views=4, batch=3):
    g = torch.Generator().manual_seed(0)
    targets = torch.softmax(torch.randn(2, batch, 4, D, generator=g) * 2, -1)
    predictions = torch.log_softmax(
        torch.randn(views, batch, 4, D, generator=g), -1)
    return targets, predictions


def cross_view(ensemble, student):
    """mean over (teacher view v, student view u != v) of the batch mean of
    -sum E_v log P_u: DINO's pairing, written as loops."""
    total, pairs = 0.0, 0
    for v in range(ensemble.shape[0]):
        for u in range(student.shape[0]):
            if u != v:
                total = total + (-ensemble[v] * student[u]).sum(-1).mean()
                pairs += 1
    return total / pairs


def head():
    return DINOSlotHead(out_channels=D, num_slots=4)


def test_default_is_the_mean_of_the_members_for_the_global_slot():
    targets, predictions = tensors()
    loss = EnsembleDistillLoss(loss_weight=0.5)
    loss.bind(head())
    out = loss(head(), predictions, targets, LAYOUT)
    expected = 0.5 * cross_view(targets[:, :, 1:].mean(2),
                                predictions[:, :, 0])
    torch.testing.assert_close(out, expected)
    assert not loss.replaces_global_target(LAYOUT)


def test_inverse_entropy_member_weights():
    targets, predictions = tensors()
    members = targets[:, :, 1:]
    entropy = -(members * members.log()).sum(-1)
    weights = (1 / entropy) / (1 / entropy).sum(-1, keepdim=True)
    torch.testing.assert_close(entropy_weights(members), weights)
    loss = EnsembleDistillLoss(member_weights='inverse_entropy')
    loss.bind(head())
    expected = cross_view((members * weights[..., None]).sum(2),
                          predictions[:, :, 0])
    torch.testing.assert_close(loss(head(), predictions, targets, LAYOUT),
                               expected)
    # a sharper member weighs more
    sharp = torch.tensor([[[[0.97, 0.01, 0.01, 0.01],
                            [0.25, 0.25, 0.25, 0.25]]]])
    w = entropy_weights(sharp)
    assert w[0, 0, 0] > w[0, 0, 1] and float(w.sum()) == pytest.approx(1.0)


def test_sharpened_and_centred_ensemble_target():
    targets, predictions = tensors()
    loss = EnsembleDistillLoss(target_temp=0.5, center_target=True,
                               center_momentum=0.8)
    loss.bind(head())
    assert loss.center.shape == (D, )
    mean = targets[:, :, 1:].mean(2)
    # step 1: zero centre, then the centre moves to 0.2 * batch mean log E
    expected = cross_view(torch.softmax(mean.log() / 0.5, -1),
                          predictions[:, :, 0])
    torch.testing.assert_close(loss(head(), predictions, targets, LAYOUT),
                               expected)
    center = 0.2 * mean.log().mean((0, 1))
    torch.testing.assert_close(loss.center, center)
    # step 2 uses the centre of step 1
    expected = cross_view(torch.softmax((mean.log() - center) / 0.5, -1),
                          predictions[:, :, 0])
    torch.testing.assert_close(loss(head(), predictions, targets, LAYOUT),
                               expected)
    torch.testing.assert_close(loss.center,
                               0.8 * center + 0.2 * mean.log().mean((0, 1)))
    # sharpening alone, no centre buffer
    sharpen = EnsembleDistillLoss(target_temp=0.25)
    sharpen.bind(head())
    assert not hasattr(sharpen, 'center')
    target = sharpen.target(head(), targets, LAYOUT)
    torch.testing.assert_close(target[:, :, 0],
                               mean ** 4 / (mean ** 4).sum(-1, keepdim=True))


def test_every_student_slot_learns_the_ensemble():
    targets, predictions = tensors()
    loss = EnsembleDistillLoss(students='all')
    loss.bind(head())
    ensemble = targets[:, :, 1:].mean(2)
    # groups as MTE-DINO passes them: 2 global views with every slot, then
    # 2 local views with the global slot only
    groups = [predictions[:2], predictions[2:, :, :1]]
    per_slot = [cross_view(ensemble, predictions[:, :, 0])] + [
        cross_view(ensemble, predictions[:2, :, j]) for j in (1, 2, 3)]
    torch.testing.assert_close(loss(head(), groups, targets, LAYOUT),
                               sum(per_slot) / 4)


def test_feature_level_distillation():
    g = torch.Generator().manual_seed(3)
    student = torch.randn(2, 3, 8, generator=g)
    teacher = torch.randn(2, 3, 4, 8, generator=g)
    loss = EnsembleDistillLoss(feature_weight=0.3, ensemble=('aux', ))
    members = F.normalize(teacher[:, :, 1:3], dim=-1).mean(2)
    expected = 0.3 * (1 - F.cosine_similarity(student, members, -1)).mean()
    torch.testing.assert_close(loss.feature_loss(student, teacher, LAYOUT),
                               expected)
    assert EnsembleDistillLoss().feature_loss(student, teacher,
                                              LAYOUT) is None


def test_nothing_to_distil_and_bad_options():
    targets, predictions = tensors()
    for loss, layout in ((EnsembleDistillLoss(loss_weight=0.0), LAYOUT),
                         (EnsembleDistillLoss(target_mode='replace'),
                          SlotLayout(0, 0))):
        assert loss(head(), predictions, targets, layout) is None
        assert not loss.replaces_global_target(layout)
    assert EnsembleDistillLoss(target_mode='replace').replaces_global_target(
        LAYOUT)
    for kwargs, match in ((dict(target_temp=0), 'target_temp'),
                          (dict(member_weights='max'), "member_weights='max'"),
                          (dict(target_mode='instead'), 'target_mode'),
                          (dict(students='some'), 'students'),
                          (dict(feature_weight=-1), 'feature_weight')):
        with pytest.raises(ValueError, match=match):
            EnsembleDistillLoss(**kwargs)
    moco = MoCoV3SlotHead(predictor=dict(
        type='NonLinearNeck', in_channels=4, hid_channels=8, out_channels=4,
        num_layers=2, with_avg_pool=False))
    with pytest.raises(ValueError, match='target_temp.*embeddings'):
        EnsembleDistillLoss(target_temp=0.5).bind(moco)
    EnsembleDistillLoss(target_mode='replace', students='all').bind(moco)
    assert math.isclose(EnsembleDistillLoss().target_temp, 1.0)
