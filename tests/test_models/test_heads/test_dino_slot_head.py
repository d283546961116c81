"""DINO loss and centring against a direct loop over the published formulas
(Caron et al., ICCV 2021, Algorithm 1 / main_dino.py semantics)."""
import pytest
import torch
import torch.nn.functional as F

from mte_mm.models import DINOSlotHead, cross_view_cross_entropy

from ...conftest import run_gloo_workers


def reference_dino_loss(student_out, teacher_out, center, s_temp, t_temp):
    """student_out: list of (B, D) per view; teacher_out: list of (B, D) for
    the global views (same order as the first student views)."""
    total, pairs = 0.0, 0
    for iq, t in enumerate(teacher_out):
        q = F.softmax((t - center) / t_temp, dim=-1)
        for v, s in enumerate(student_out):
            if v == iq:
                continue
            total = total + torch.sum(
                -q * F.log_softmax(s / s_temp, dim=-1), dim=-1).mean()
            pairs += 1
    return total / pairs


def test_loss_equals_reference_per_slot():
    torch.manual_seed(0)
    views, batch, slots, dim = 5, 3, 4, 16
    student = torch.randn(views, batch, slots, dim)
    teacher = torch.randn(2, batch, slots, dim)
    loss = DINOSlotHead(out_channels=dim, num_slots=slots, teacher_temp=0.05)
    loss.center.copy_(torch.randn(slots, dim) * 0.1)
    per_slot = loss.loss(loss.predictions(student), loss.targets(teacher))
    for j in range(slots):
        ref = reference_dino_loss(list(student[:, :, j]),
                                  list(teacher[:, :, j]), loss.center[j],
                                  0.1, 0.05)
        torch.testing.assert_close(per_slot[j], ref)


def test_center_update_matches_formula_and_shared_center():
    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 4, 8)
    loss = DINOSlotHead(out_channels=8, num_slots=4)
    loss.update(teacher)
    expected = 0.1 * teacher.reshape(6, 4, 8).mean(0)
    torch.testing.assert_close(loss.center, expected)
    loss.update(teacher)
    torch.testing.assert_close(loss.center, 0.9 * expected + expected)

    shared = DINOSlotHead(out_channels=8, num_slots=4, center_per_slot=False)
    shared.update(teacher)
    assert shared.center.shape == (1, 8)
    torch.testing.assert_close(shared.center[0],
                               0.1 * teacher.reshape(-1, 8).mean(0))


def test_teacher_temperature_warmup_schedule():
    loss = DINOSlotHead(out_channels=8, warmup_teacher_temp=0.04,
                        teacher_temp=0.07, warmup_teacher_temp_epochs=30)
    expected = torch.linspace(0.04, 0.07, 30)
    for epoch in range(30):
        assert loss.teacher_temp_at(epoch) == pytest.approx(
            float(expected[epoch]))
    assert loss.teacher_temp_at(30) == loss.teacher_temp_at(99) == 0.07
    assert DINOSlotHead(8).teacher_temp_at(0) == 0.04


def test_cross_view_pairs_skip_same_view_only():
    # teacher = one-hot on view index, student log-probs constant per view:
    # the loss is the mean of -log p over the 2 x 3 - 2 = 4 cross pairs.
    teacher = torch.zeros(2, 1, 2)
    teacher[0, 0, 0] = teacher[1, 0, 1] = 1
    log_p = torch.log(torch.tensor([[[0.5, 0.5]], [[0.9, 0.1]],
                                    [[0.2, 0.8]]]))
    got = cross_view_cross_entropy(teacher, log_p)
    pairs = [-log_p[1, 0, 0], -log_p[2, 0, 0], -log_p[0, 0, 1],
             -log_p[2, 0, 1]]
    torch.testing.assert_close(got, torch.stack(pairs).mean())


def _center_worker(rank):
    logits = torch.arange(24, dtype=torch.float32).view(2, 1, 3, 4) * (rank + 1)
    loss = DINOSlotHead(out_channels=4, num_slots=3)
    loss.update(logits)
    return loss.center.clone()


def test_center_is_all_reduced_across_processes():
    centers = run_gloo_workers(_center_worker)
    base = torch.arange(24, dtype=torch.float32).view(2, 1, 3, 4)
    # the mean over both ranks' 2 x 1 rows per slot, times (1 - momentum)
    expected = 0.1 * torch.cat([base, 2 * base]).mean(dim=(0, 1))
    for rank in (0, 1):
        torch.testing.assert_close(centers[rank], expected)
