"""MoCo v3's contrastive head (Chen, Xie, He, "An Empirical Study of
Training Self-Supervised Vision Transformers", ICCV 2021) per token slot, for
Multi-Token Enhancing (MTE, arXiv 2411.15787)."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank
from torch import Tensor

from ...registry import MODELS
from ..necks.slotwise_projector import SlotwiseProjector
from ..utils.precision import at_least_float32
from ..utils.view_groups import ViewGroups
from .slot_head import BaseSlotHead, Views, slot_mean


@MODELS.register_module()
class MoCoV3SlotHead(BaseSlotHead):
    """The student's predictor and MoCo v3's InfoNCE, slot by slot.

    ``ctr(q, k) = 2T * CE(norm(q) . all_gather(norm(k))^T / T,
    labels = arange(B) + B * rank)``; for two views the loss of slot j is
    ``ctr(q_j^1, k_j^2) + ctr(q_j^2, k_j^1)``. The keys of slot j are the
    only negatives of the queries of slot j: other slots of the same image
    are not negatives. With one slot this is mmpretrain's ``MoCoV3Head``.

    Args:
        predictor (dict): The predictor (mmpretrain's ``NonLinearNeck`` in
            the recipe), run by a :class:`SlotwiseProjector` with per-view,
            per-slot batch statistics, as the neck's projector
            (``self.predictor.module`` is the built predictor).
        temperature (float): T. Defaults to 0.2 (MoCo v3's ViT recipe).
    """

    def __init__(self, predictor: dict, temperature: float = 0.2,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if temperature <= 0:
            raise ValueError('MoCoV3SlotHead: temperature must be > 0, got '
                             f'{temperature}')
        self.predictor = SlotwiseProjector(predictor)
        self.temperature = temperature

    def targets(self, teacher_out: Tensor, epoch: int = 0) -> Tensor:
        """Normalised momentum-encoder keys ``(V, B, S, D)``."""
        # float32 under autocast too (F.normalize's eps is 0 in float16)
        return F.normalize(at_least_float32(teacher_out), dim=-1)

    def predictions(self, student_out: Views) -> ViewGroups:
        """Normalised predictor outputs of the student's projections, with
        batch statistics per view and slot (as one predictor call per view
        and slot; mmpretrain's MoCoV3Head calls it once per view), all
        views in one call."""
        views = ViewGroups.of(student_out)
        out = self.predictor(views.cat())
        return views.like(F.normalize(at_least_float32(out), dim=-1))

    def contrastive(self, queries: Tensor, keys: Tensor) -> Tensor:
        """``ctr`` per slot ``(S,)`` for normalised ``(B, S, D)`` queries and
        keys; the keys are gathered from every process (no gradient)."""
        batch = queries.shape[0]
        keys = torch.cat(all_gather(keys), dim=0)  # (B * world, S, D)
        logits = torch.einsum('bsd,msd->sbm', queries, keys) / \
            self.temperature
        labels = torch.arange(batch, device=queries.device) + \
            batch * get_rank()
        loss = F.cross_entropy(logits.flatten(0, 1),
                               labels.repeat(logits.shape[0]),
                               reduction='none').view(-1, batch).mean(1)
        return 2 * self.temperature * loss

    def loss(self, predictions: Views, targets: Tensor) -> Tensor:
        """Sum over view pairs ``(u, v != u)`` of ``ctr(q^u, k^v)`` per slot:
        ``ctr(q^1, k^2) + ctr(q^2, k^1)`` for MoCo's two views."""
        predictions = ViewGroups.of(predictions).cat()
        num_views = predictions.shape[0]
        if targets.shape[0] != num_views:
            raise ValueError(f'MoCoV3SlotHead: {num_views} query views but '
                             f'{targets.shape[0]} key views')
        return sum(self.contrastive(predictions[u], targets[v])
                   for u in range(num_views) for v in range(num_views)
                   if u != v)

    def aggregate(self, targets: Tensor,
                  weights: Optional[Tensor] = None) -> Tensor:
        """The ensemble key ``norm(mean_j norm(k_j))`` (``weights``: a
        weighted mean)."""
        return F.normalize(slot_mean(targets, weights), dim=-1)
