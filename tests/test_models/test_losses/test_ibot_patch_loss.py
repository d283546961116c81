"""IBOTPatchLoss against a by-hand loop over iBOT's published formula
(main_ibot.py semantics: same view only, per-image mean over its masked
patches, unmasked images count as 0; centre from all teacher patches)."""
import pytest
import torch
import torch.nn.functional as F

from mte_mm.models import IBOTPatchLoss

from ...conftest import run_gloo_workers


def reference_patch_loss(student, teacher, masks, center, s_temp, t_temp):
    """student, teacher: (V, B, P, D) logits at every patch; masks (V, B, P)."""
    total = 0.0
    for q in range(student.shape[0]):
        per_image = []
        for b in range(student.shape[1]):
            loss, count = 0.0, 0
            for i in range(student.shape[2]):
                if masks[q, b, i]:
                    t = F.softmax((teacher[q, b, i] - center) / t_temp, -1)
                    s = F.log_softmax(student[q, b, i] / s_temp, -1)
                    loss = loss + (-t * s).sum()
                    count += 1
            per_image.append(loss / max(1, count))
        total = total + sum(per_image) / len(per_image)
    return total / student.shape[0]


def test_loss_equals_the_published_formula_with_unmasked_images():
    torch.manual_seed(0)
    views, batch, patches, dim = 2, 3, 5, 7
    student = torch.randn(views, batch, patches, dim)
    teacher = torch.randn(views, batch, patches, dim)
    masks = torch.rand(views, batch, patches) < 0.5
    masks[0, 1] = False  # an image with no masked patch
    masks[1, 2] = True  # and one fully masked
    loss = IBOTPatchLoss(out_channels=dim, warmup_teacher_temp_epochs=0,
                         teacher_temp=0.05)
    loss.center.copy_(torch.randn(1, dim) * 0.1)
    where = masks.nonzero(as_tuple=True)
    got = loss.loss(student[where], loss.targets(teacher[where]), masks)
    ref = reference_patch_loss(student, teacher, masks, loss.center[0], 0.1,
                               0.05)
    torch.testing.assert_close(got, ref)
    # no masked patch anywhere: the loss is 0
    none = torch.zeros_like(masks)
    empty = student.new_zeros(0, dim)
    assert loss.loss(empty, empty, none) == 0
    with pytest.raises(ValueError, match='masked patches'):
        loss.loss(student[where][:-1], loss.targets(teacher[where]), masks)


def test_center_is_the_mean_of_all_teacher_patches_and_temperature_warms():
    teacher = torch.randn(2, 3, 5, 4)
    loss = IBOTPatchLoss(out_channels=4)
    loss.update(teacher)
    torch.testing.assert_close(loss.center[0],
                               0.1 * teacher.reshape(-1, 4).mean(0))
    expected = torch.linspace(0.04, 0.07, 30)
    for epoch in (0, 7, 29):
        assert loss.teacher_temp_at(epoch) == pytest.approx(
            float(expected[epoch]))
    assert loss.teacher_temp_at(30) == 0.07


def _center_worker(rank):
    logits = torch.arange(24, dtype=torch.float32).view(1, 2, 3, 4) * \
        (rank + 1)
    loss = IBOTPatchLoss(out_channels=4)
    loss.update(logits)
    return loss.center.clone()


def test_center_is_all_reduced_across_processes():
    centers = run_gloo_workers(_center_worker)
    base = torch.arange(24, dtype=torch.float32).view(6, 4)
    expected = 0.1 * torch.cat([base, 2 * base]).mean(0, keepdim=True)
    for rank in (0, 1):
        torch.testing.assert_close(centers[rank], expected)
