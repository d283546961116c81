"""The formulas of DINO's self-distillation loss (Caron et al., ICCV 2021):
the cross-view cross-entropy, the teacher-temperature schedule and the
centre update, used per token slot by :class:`DINOSlotHead` (Multi-Token
Enhancing, arXiv 2411.15787) and by iBOT's patch loss."""
from typing import Union

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_reduce, get_world_size
from torch import Tensor

from ..utils.view_groups import ViewGroups


def _batch_dot(a: Tensor, b: Tensor) -> Tensor:
    """``sum_{b, d} a * b / B`` for ``(B, ..., D)`` tensors -> ``(...)``."""
    return (a * b).sum(dim=-1).mean(dim=0)


def cross_view_cross_entropy(teacher_probs: Tensor,
                             student_log_probs: Union[ViewGroups, Tensor]
                             ) -> Tensor:
    """DINO's loss over every (teacher view v, student view u != v) pair.

    Args:
        teacher_probs (Tensor): ``(V_t, B, S, D)`` for the global views;
            teacher view v and student view v are the same crop.
        student_log_probs (ViewGroups | Tensor): ``V_s >= V_t`` views
            ``(B, S, D)`` (a tensor: ``(V_s, B, S, D)``).

    Returns:
        Tensor: ``(...)``, i.e. per trailing slot: the mean over pairs of the
        batch mean of ``-sum_D P_t log P_s``.

    Computed as ``<sum_v P_v, sum_u log P_u> - sum_v <P_v, log P_v>``: O(V)
    passes over the logits instead of one per pair, and no copies.
    """
    views = ViewGroups.of(student_log_probs)
    num_t, num_s = teacher_probs.shape[0], views.num_views
    total = _batch_dot(teacher_probs.sum(0), views.sum())
    same = views.first(min(num_t, num_s))
    same_view = sum(_batch_dot(teacher_probs[v], same[v])
                    for v in range(min(num_t, num_s)))
    num_pairs = num_t * num_s - min(num_t, num_s)
    return -(total - same_view) / num_pairs


def warmup_temperature(epoch: int, start: float, final: float,
                       warmup_epochs: int) -> float:
    """DINO's / iBOT's teacher-temperature schedule:
    ``linspace(start, final, warmup_epochs)[epoch]``, then ``final``."""
    if epoch >= warmup_epochs:
        return final
    if warmup_epochs == 1:
        return start
    return start + (final - start) * epoch / (warmup_epochs - 1)



class TeacherTempSchedule:
    """What DINO's slot head and iBOT's patch loss share: the teacher
    temperature of an epoch (:func:`warmup_temperature`) from the module's
    ``warmup_teacher_temp``, ``teacher_temp`` and
    ``warmup_teacher_temp_epochs``."""

    def teacher_temp_at(self, epoch: int) -> float:
        return warmup_temperature(epoch, self.warmup_teacher_temp,
                                  self.teacher_temp,
                                  self.warmup_teacher_temp_epochs)

@torch.no_grad()
def update_center(center: Tensor, batch_sum: Tensor, count: int,
                  momentum: float) -> None:
    """``center <- momentum * center + (1 - momentum) * mean``, the mean of
    ``count`` rows per process whose sum is ``batch_sum``, all-reduced over
    processes (DINO's and iBOT's centring)."""
    batch_sum = batch_sum.reshape_as(center)  # a fresh sum: reduced in place
    if torch_dist.is_available() and torch_dist.is_initialized():
        all_reduce(batch_sum, op='sum')
    center.mul_(momentum).add_(batch_sum / (count * get_world_size()),
                               alpha=1 - momentum)
