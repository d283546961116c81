"""iBOT's masked patch loss with its own teacher centre (Zhou et al.,
"iBOT: Image BERT Pre-Training with Online Tokenizer", ICLR 2022), for
iBOT and MTE-iBOT (Multi-Token Enhancing, arXiv 2411.15787)."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from ...registry import MODELS
from ..utils.precision import at_least_float32
from .dino_loss import TeacherTempSchedule, update_center


@MODELS.register_module()
class IBOTPatchLoss(BaseModule, TeacherTempSchedule):
    """Masked image modeling on patch tokens, same view only.

    For each global view q the student's prediction at a masked patch i of
    image b learns the teacher's centred, sharpened distribution at the
    same patch of the same (unmasked) view::

        l(b, i) = -sum_k softmax((t(b, i) - c2) / tau_t2)_k
                         * log_softmax(s(b, i) / tau_s)_k
        L = mean_q mean_b [ sum_i m(b, i) l(b, i) / max(1, sum_i m(b, i)) ]

    (an image with no masked patch counts as 0 in the batch mean). The
    centre ``c2`` is an EMA of the mean of **all** teacher patch logits
    (all-reduced), and ``tau_t2`` warms up linearly per epoch.

    The student's logits are needed at the masked patches only (the
    8192-way last layer on every patch is the dominant cost), so
    :meth:`loss` takes them flattened in mask order, with the teacher's.

    Args:
        out_channels (int): Prototypes D. Defaults to 8192.
        student_temp (float): Defaults to 0.1.
        teacher_temp (float): ``tau_t2`` after warm-up. Defaults to 0.07.
        warmup_teacher_temp (float): Defaults to 0.04.
        warmup_teacher_temp_epochs (int): Defaults to 30.
        center_momentum (float): Defaults to 0.9.
        loss_weight (float): iBOT's lambda for the patch loss. Defaults to
            1.0 (the recipe).
    """

    def __init__(self,
                 out_channels: int = 8192,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.07,
                 warmup_teacher_temp: float = 0.04,
                 warmup_teacher_temp_epochs: int = 30,
                 center_momentum: float = 0.9,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.warmup_teacher_temp = warmup_teacher_temp
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.center_momentum = center_momentum
        self.loss_weight = loss_weight
        self.register_buffer('center', torch.zeros(1, out_channels))

    def targets(self, teacher_logits: Tensor, epoch: int = 0) -> Tensor:
        """Centred, sharpened softmax of teacher patch logits ``(..., D)``."""
        return F.softmax((at_least_float32(teacher_logits) - self.center) /
                         self.teacher_temp_at(epoch), dim=-1)

    def loss(self, student_logits: Tensor, targets: Tensor,
             masks: Tensor) -> Tensor:
        """The patch loss (times ``loss_weight``).

        Args:
            student_logits (Tensor): ``(M, D)`` student logits at the masked
                patches, in ``masks.nonzero()`` order.
            targets (Tensor): ``(M, D)`` teacher targets at the same patches.
            masks (Tensor): ``(V, B, P)`` bool, True = masked.
        """
        num_views, batch = masks.shape[:2]
        if student_logits.shape[0] != int(masks.sum()) or \
                targets.shape != student_logits.shape:
            raise ValueError(
                f'IBOTPatchLoss: {int(masks.sum())} masked patches, but '
                f'student logits {tuple(student_logits.shape)} and targets '
                f'{tuple(targets.shape)}')
        per_patch = -(targets * F.log_softmax(
            at_least_float32(student_logits) / self.student_temp,
            dim=-1)).sum(-1)
        counts = masks.sum(-1).clamp(min=1)  # (V, B)
        weights = (1.0 / counts)[masks.nonzero(as_tuple=True)[:2]]
        return self.loss_weight * (per_patch * weights).sum() / (
            num_views * batch)

    @torch.no_grad()
    def update(self, teacher_logits: Tensor) -> None:
        """EMA of the mean of all teacher patch logits ``(..., P, D)``,
        all-reduced over processes (iBOT's ``update_center`` for patches)."""
        flat = teacher_logits.reshape(-1, teacher_logits.shape[-1])
        update_center(self.center, at_least_float32(flat).sum(0),
                      flat.shape[0], self.center_momentum)
