"""mmpretrain's latent heads per token slot, for Multi-Token Enhancing (MTE,
arXiv 2411.15787) on BYOL (Grill et al., NeurIPS 2020), SimSiam (Chen & He,
CVPR 2021) and Barlow Twins (Zbontar et al., ICML 2021).

Each slot is its own ensemble member: mmpretrain's loss module is called
once per slot, and every batch statistic (BatchNorm in the predictor,
Barlow Twins' standardisation and cross-correlation) is computed per slot
(and per view), never over several slots."""
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce

from ...registry import MODELS
from ..layers.slot_batch_norm import SlotBatchNorm
from ..necks.slotwise_projector import SlotwiseProjector
from ..utils.precision import at_least_float32
from ..utils.view_groups import ViewGroups
from .slot_head import BaseSlotHead, Views, slot_mean


CROSS_CORRELATIONS = ('matrix', 'gram')


def gather_rows(x: Tensor, world: int) -> Tensor:
    """The ``(B, ...)`` rows of every process, ``(world * B, ...)`` in rank
    order, with gradients to each process's own rows (a differentiable
    all-reduce of zero-padded copies: gloo has no differentiable
    all-gather). Every process must hold the same ``B``."""
    rank = dist.get_rank()
    padded = torch.stack([x if r == rank else torch.zeros_like(x)
                          for r in range(world)])
    return all_reduce(padded).flatten(0, 1)


def normalised_mean(targets: Tensor, weights: Optional[Tensor] = None
                    ) -> Tensor:
    """``norm(mean_j norm(t_j))`` over the slots of ``(V, B, S_e, D)``
    embeddings (``weights`` ``(V, B, S_e)``: a weighted mean) ->
    ``(V, B, 1, D)``."""
    members = F.normalize(at_least_float32(targets), dim=-1)
    return F.normalize(slot_mean(members, weights), dim=-1)


@MODELS.register_module()
class LatentPredictSlotHead(BaseSlotHead):
    """mmpretrain's ``LatentPredictHead`` per slot: the student's projection
    of view u goes through the predictor and mmpretrain's loss
    (``CosineSimilarityLoss``) against the target projection of every other
    view v, slot j against slot j:
    ``L_j = loss_weight * sum_{u != v} loss(pred(z_j^u), t_j^v)``. With one
    slot and two views this is mmpretrain's BYOL (``loss_weight=2``, the
    target network's projections) or SimSiam (``loss_weight=0.5``, the
    student's own projections, detached).

    Args:
        predictor (dict): mmpretrain's predictor (``NonLinearNeck``), run by
            a :class:`SlotwiseProjector`: batch statistics per view (as
            mmpretrain, which calls it per view) and per slot.
        loss (dict): mmpretrain's loss module. Defaults to
            ``CosineSimilarityLoss``.
        loss_weight (float): The scale mmpretrain's algorithm puts on the
            sum over the two view orders (BYOL 2, SimSiam 0.5). Defaults to
            1.

    Ensemble target (:meth:`aggregate`): ``norm(mean_j norm(t_j))`` of the
    members' target projections (the loss compares directions only).
    """

    target_kind = 'embeddings'

    def __init__(self, predictor: dict,
                 loss: dict = dict(type='mmpretrain.CosineSimilarityLoss'),
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        self.predictor = SlotwiseProjector(predictor)
        self.loss_module = MMPRETRAIN_MODELS.build(loss)
        self.loss_weight = loss_weight

    def targets(self, teacher_out: Tensor, epoch: int = 0) -> Tensor:
        """The target projections, without gradient (mmpretrain detaches
        them)."""
        return at_least_float32(teacher_out).detach()

    def predictions(self, student_out: Views) -> ViewGroups:
        """The predictor on every view and slot, in one call."""
        views = ViewGroups.of(student_out)
        return views.like(self.predictor(views.cat()))

    def loss(self, predictions: Views, targets: Tensor) -> Tensor:
        """``(S,)``: for each slot, mmpretrain's loss over the ordered view
        pairs ``(u, v != u)``, scaled by ``loss_weight``."""
        preds = ViewGroups.of(predictions).cat()
        pairs = [(u, v) for u in range(preds.shape[0])
                 for v in range(targets.shape[0]) if u != v]
        return self.loss_weight * torch.stack([
            sum(self.loss_module(at_least_float32(preds[u, :, j]),
                                 targets[v, :, j]) for u, v in pairs)
            for j in range(preds.shape[2])])

    def aggregate(self, targets: Tensor,
                  weights: Optional[Tensor] = None) -> Tensor:
        return normalised_mean(targets, weights)


@MODELS.register_module()
class LatentCrossCorrelationSlotHead(BaseSlotHead):
    """mmpretrain's ``LatentCrossCorrelationHead`` (Barlow Twins) per slot:
    for each view pair ``u < v`` and slot j, the cross-correlation
    ``C_j = bn(z_j^u)^T bn(t_j^v) / N`` of the standardised embeddings over
    the whole distributed batch (N images), and mmpretrain's
    ``CrossCorrelationLoss(C_j)``.

    Two deviations from mmpretrain's head, both to make several processes
    equal one process on the same global batch (as the official code, which
    converts its BatchNorm to SyncBatchNorm): the standardisation is
    synchronised over processes (mmpretrain's plain ``BatchNorm1d`` uses
    each process's own statistics), and ``C`` is summed over processes by a
    differentiable all-reduce (mmpretrain's is not, so each process
    back-propagates only its own images' part). In one process both equal
    mmpretrain's head.

    Args:
        in_channels (int): Embedding width D.
        loss (dict): mmpretrain's loss module. Defaults to
            ``CrossCorrelationLoss``.
        cross_correlation (str): ``'matrix'`` (default): build each slot's
            ``D x D`` matrix and call mmpretrain's loss on it (Barlow Twins'
            8192-wide recipe: 256 MiB per slot and view pair in float32).
            ``'gram'``: the same loss without the matrix, from
            ``sum_ij C_ij^2 = sum_bc (a_b . a_c)(b_b . b_c) / N^2`` over the
            ``N x N`` Gram matrices of the global batch and the diagonal
            ``C_ii``: ``sum_i (1 - C_ii)^2 + lambd * (sum_ij C_ij^2 -
            sum_i C_ii^2)`` (``N^2`` memory instead of ``D^2``; needs
            ``CrossCorrelationLoss``'s ``lambd``; equal to ``'matrix'`` up to
            rounding, tested).

    Ensemble target (:meth:`aggregate`): the mean of the members' embeddings
    (the loss standardises each dimension over the batch).
    """

    target_kind = 'embeddings'

    def __init__(self, in_channels: int,
                 loss: dict = dict(type='mmpretrain.CrossCorrelationLoss'),
                 cross_correlation: str = 'matrix',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if cross_correlation not in CROSS_CORRELATIONS:
            raise ValueError(
                'LatentCrossCorrelationSlotHead: cross_correlation='
                f'{cross_correlation!r}, expected one of '
                f'{CROSS_CORRELATIONS}')
        self.bn = SlotwiseProjector(nn.Sequential(SlotBatchNorm(
            in_channels, affine=False, synchronised=True)))
        self.loss_module = MMPRETRAIN_MODELS.build(loss)
        if cross_correlation == 'gram' and \
                not hasattr(self.loss_module, 'lambd'):
            raise ValueError(
                "LatentCrossCorrelationSlotHead: cross_correlation='gram' "
                'computes CrossCorrelationLoss itself and needs its lambd; '
                f'{type(self.loss_module).__name__} has none')
        self.cross_correlation = cross_correlation

    def targets(self, teacher_out: Tensor, epoch: int = 0) -> Tensor:
        """The target embeddings as they are (with gradient: Barlow Twins
        trains both branches)."""
        return at_least_float32(teacher_out)

    def predictions(self, student_out: Views) -> ViewGroups:
        return ViewGroups.of(student_out)

    def loss(self, predictions: Views, targets: Tensor) -> Tensor:
        """``(S,)``: for each slot, mmpretrain's loss of the cross-correlation
        of every view pair ``u < v``."""
        preds = at_least_float32(ViewGroups.of(predictions).cat())
        world = dist.get_world_size() if dist.is_available() and \
            dist.is_initialized() else 1
        total = 0
        for u in range(preds.shape[0]):
            for v in range(u + 1, targets.shape[0]):
                a, b = self.bn(preds[u]), self.bn(targets[v])  # (B, S, D)
                total = total + (self._gram_loss(a, b, world)
                                 if self.cross_correlation == 'gram' else
                                 self._matrix_loss(a, b, world))
        return total

    def _matrix_loss(self, a: Tensor, b: Tensor, world: int) -> Tensor:
        corr = torch.einsum('bsd,bse->sde', a, b) / (a.shape[0] * world)
        if world > 1:
            corr = all_reduce(corr)
        # indexed, not unbound: the loss edits its diagonal in place
        return torch.stack(
            [self.loss_module(corr[j]) for j in range(len(corr))])

    def _gram_loss(self, a: Tensor, b: Tensor, world: int) -> Tensor:
        num = a.shape[0] * world
        diag = (a * b).sum(0) / num  # (S, D): C_ii per slot
        if world > 1:
            diag = all_reduce(diag)
            a, b = gather_rows(a, world), gather_rows(b, world)
        frob = (torch.einsum('bsd,csd->sbc', a, a) *
                torch.einsum('bsd,csd->sbc', b, b)).sum((1, 2)) / num**2
        squares = (diag * diag).sum(-1)
        return ((1 - diag)**2).sum(-1) + self.loss_module.lambd * (
            frob - squares)

    def aggregate(self, targets: Tensor,
                  weights: Optional[Tensor] = None) -> Tensor:
        return slot_mean(targets, weights)
