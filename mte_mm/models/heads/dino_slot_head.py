"""DINO's criterion (Caron et al., ICCV 2021) per token slot: the head of
Multi-Token Enhancing (arXiv 2411.15787) on DINO and iBOT
(:class:`BaseSlotHead` contract)."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import MODELS
from ..losses.dino_loss import (TeacherTempSchedule,
                                cross_view_cross_entropy, update_center)
from ..utils.precision import at_least_float32
from ..utils.view_groups import ViewGroups
from .slot_head import BaseSlotHead, Views, slot_mean


@MODELS.register_module()
class DINOSlotHead(BaseSlotHead, TeacherTempSchedule):
    """Centred, sharpened teacher targets and the cross-view DINO loss: the
    head of MTE-DINO and MTE-iBOT (it is student-only; DINO's projection MLP
    is the neck's projector, :class:`DINOProjector`, which the teacher
    averages).

    Each of ``num_slots`` token slots keeps its own EMA centre of teacher
    logits (``center_per_slot=True``), or one centre is shared by all slots.
    ``teacher_temp`` warms up linearly from ``warmup_teacher_temp`` over
    ``warmup_teacher_temp_epochs`` epochs (DINO: 0.04 -> 0.07 over 30 epochs
    in the 300-epoch recipe; constant 0.04 for ViT-S 100 ep), per epoch as in
    DINO's ``np.linspace`` schedule.

    Args:
        out_channels (int): Number of prototypes D.
        num_slots (int): Token slots (1 for plain DINO).
        student_temp (float): Defaults to 0.1.
        teacher_temp (float): Temperature after warm-up. Defaults to 0.04.
        warmup_teacher_temp (float): Defaults to 0.04.
        warmup_teacher_temp_epochs (int): Defaults to 0.
        center_momentum (float): Defaults to 0.9.
        center_per_slot (bool): One centre per slot. Defaults to True.
    """

    target_kind = 'probabilities'

    def __init__(self,
                 out_channels: int,
                 num_slots: int = 1,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.04,
                 warmup_teacher_temp: float = 0.04,
                 warmup_teacher_temp_epochs: int = 0,
                 center_momentum: float = 0.9,
                 center_per_slot: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        self.out_channels = out_channels
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.warmup_teacher_temp = warmup_teacher_temp
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.center_momentum = center_momentum
        self.center_per_slot = center_per_slot
        self.register_buffer(
            'center', torch.zeros(num_slots if center_per_slot else 1,
                                  out_channels))

    def targets(self, teacher_out: Tensor, epoch: int = 0) -> Tensor:
        """Centred, sharpened softmax of ``(V_t, B, S, D)`` teacher logits."""
        # float32 whatever the autocast type: sharpened logits (T = 0.04)
        centred = at_least_float32(teacher_out) - self.center
        return F.softmax(centred / self.teacher_temp_at(epoch), dim=-1)

    def predictions(self, student_out: Views) -> ViewGroups:
        """Student log-probabilities at ``student_temp``."""
        return ViewGroups.of(student_out).map(lambda logits: F.log_softmax(
            at_least_float32(logits) / self.student_temp, dim=-1))

    def loss(self, predictions: Views, targets: Tensor) -> Tensor:
        """Per-slot DINO loss ``(S,)``: the student's log-probabilities
        against the teacher's probabilities
        (:func:`cross_view_cross_entropy`)."""
        return cross_view_cross_entropy(targets, predictions)

    def aggregate(self, targets: Tensor,
                  weights: Optional[Tensor] = None) -> Tensor:
        """The ensemble target: the (weighted) mean of the slots'
        probabilities."""
        return slot_mean(targets, weights)

    @torch.no_grad()
    def update(self, teacher_out: Tensor) -> None:
        """EMA of the batch mean of ``(V_t, B, S, D)`` teacher logits,
        all-reduced over processes (DINO's ``update_center``)."""
        dims = (0, 1) if self.center_per_slot else (0, 1, 2)
        count = teacher_out[..., 0].numel() // (
            teacher_out.shape[2] if self.center_per_slot else 1)
        update_center(self.center,
                      at_least_float32(teacher_out).sum(dim=dims), count,
                      self.center_momentum)

