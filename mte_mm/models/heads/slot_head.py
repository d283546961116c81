"""The head contract of Multi-Token Enhancing (MTE, arXiv 2411.15787): a
base method's criterion applied per token slot, so that one MTE algorithm
base class and one distillation loss serve every base method (DINO, iBOT,
MoCo v3). DINOv2 style: target, prediction, criterion and state update are
separate small methods."""
from abc import ABCMeta, abstractmethod
from typing import Optional, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor

from ..utils.view_groups import ViewGroups

#: what a head's student side takes: ViewGroups (a tensor (V, B, S, D) is
#: read as one group, ViewGroups.of)
Views = Union[ViewGroups, Tensor]


def slot_mean(values: Tensor, weights: Optional[Tensor] = None) -> Tensor:
    """The mean over the slots of ``(V, B, S, D)`` values, or their weighted
    sum with ``weights`` ``(V, B, S)`` (summing to 1 over ``S``) ->
    ``(V, B, 1, D)``: every head's ensemble (:meth:`BaseSlotHead.aggregate`)
    is this mean of its own target form."""
    if weights is None:
        return values.mean(dim=2, keepdim=True)
    return (values * weights.unsqueeze(-1)).sum(dim=2, keepdim=True)


class BaseSlotHead(BaseModule, metaclass=ABCMeta):
    """Shapes: ``V`` views, ``B`` images, ``S`` slots, ``D`` channels; the
    teacher side is a tensor ``(V_t, B, S, D)`` of the ``V_t`` views the
    teacher sees (the first views); the student side is a
    :class:`ViewGroups` of ``V`` views (read it with ``cat()``, ``split()``,
    ``first()``, ``sum()``; how the views were grouped into forwards is not
    the head's concern).

    A head never folds ``S`` into ``B``: other slots of the same image are
    not negatives, and each slot is its own ensemble member.

    ``target_kind`` says what :meth:`targets` returns: ``'probabilities'``
    (distributions over the last dim: DINO, iBOT) or ``'embeddings'``
    (MoCo's keys); options of the ensemble target that only make sense for
    distributions (sharpening, entropy weights) check it.
    """

    target_kind = 'embeddings'

    @abstractmethod
    def targets(self, teacher_out: Tensor, epoch: int = 0) -> Tensor:
        """``(V_t, B, S, D)`` teacher projections -> targets (same layout;
        DINO: centred, sharpened probabilities; MoCo: normalised keys)."""

    @abstractmethod
    def predictions(self, student_out: Views) -> ViewGroups:
        """Student projections -> what the criterion compares with the
        targets (DINO: log-probabilities; MoCo v3: the normalised predictor
        output), in the same views."""

    @abstractmethod
    def loss(self, predictions: Views, targets: Tensor) -> Tensor:
        """The base method's loss per slot ``(S,)``, reduced over its view
        pairs and the batch as the base method does."""

    def loss_per_slot(self, predictions: Views, targets: Tensor) -> Tensor:
        """:meth:`loss` of every slot ``(S,)``, each slot on the views that
        have it: views with fewer slots (the global slot only, e.g. DINO's
        local crops) count for the slots they have."""
        views = ViewGroups.of(predictions)
        counts = sorted({group.shape[2] for group in views.groups})
        if len(counts) == 1:
            return self.loss(views, targets)
        bounds = [0] + counts
        return torch.cat([
            self.loss(views.slots(slice(start, stop)),
                      targets[:, :, start:stop])
            for start, stop in zip(bounds, bounds[1:])])

    @abstractmethod
    def aggregate(self, targets: Tensor,
                  weights: Optional[Tensor] = None) -> Tensor:
        """Ensemble ``(V_t, B, S_e, D)`` targets of several slots into one
        target per view ``(V_t, B, 1, D)`` (DINO: mean of probabilities;
        MoCo: normalised mean of keys); ``weights`` ``(V_t, B, S_e)``
        (summing to 1 over the slots) replace the uniform mean."""

    def update(self, teacher_out: Tensor) -> None:
        """State updated after the loss from the teacher's projections
        (DINO's centre). Nothing by default."""
