"""Distillation of the auxiliary-token ensemble into the global token, the
core of Multi-Token Enhancing (MTE, Li et al., arXiv 2411.15787).

The paper says only that the auxiliary tokens' knowledge is distilled into
the global token. The default here is our reconstruction (the head's mean of
the members' targets, learnt by the global slot beside its own target); the
other options are the ensemble designs of the README's evidence section,
each off by default."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from ...registry import MODELS
from ..heads.slot_head import BaseSlotHead, Views
from ..utils.encoded_views import EncodedViews
from ..utils.precision import at_least_float32
from ..utils.slot_layout import AUXILIARY_KINDS, SlotLayout
from ..utils.view_groups import ViewGroups
from .dino_loss import update_center

TARGET_MODES = ('beside', 'replace')
STUDENT_SLOTS = ('global', 'all')
MEMBER_WEIGHTS = ('uniform', 'inverse_entropy')


def entropy_weights(members: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-image member weights ``w_j = (1 / H_j) / sum_i (1 / H_i)`` of
    ``(V, B, S_e, D)`` distributions, ``H_j`` their entropy (nats): the more
    confident member counts more (the entropy weighting of weighted-ensemble
    self-supervised learning, Ruan et al., ICLR 2023). Returns
    ``(V, B, S_e)``."""
    entropy = -torch.special.xlogy(members, members).sum(-1)
    inverse = 1.0 / entropy.clamp_min(eps)
    return inverse / inverse.sum(-1, keepdim=True)


@MODELS.register_module()
class EnsembleDistillLoss(BaseModule):
    """``loss_weight * head.loss(student slot(s), E)`` with ``E`` the
    ensemble target built from the teacher targets of the ensemble slots.

    ``E = head.aggregate(targets[ensemble slots], w)``: DINO, the (weighted)
    mean of the slots' teacher probabilities; MoCo v3, the normalised
    (weighted) mean of their momentum keys. The student learns it with the
    base method's own criterion and view pairs, so this loss works with any
    head keeping the :class:`BaseSlotHead` contract. Options (defaults are
    today's reconstruction):

    * ``member_weights='inverse_entropy'`` (distribution targets): ``w_j``
      per image from :func:`entropy_weights` instead of ``1 / S_e``.
    * ``target_temp`` / ``center_target`` (distribution targets): averaging
      distributions flattens them, so the aggregate can be sharpened again,
      ``E <- softmax((log E - c) / target_temp)``, with ``c`` (when
      ``center_target``) an EMA (``center_momentum``) of the batch mean of
      ``log E``, all-reduced, updated after the target is made: DINO's
      centring applied to the ensemble. ``target_temp=1`` without centring
      leaves ``E`` as it is.
    * ``target_mode='replace'``: the ensemble replaces the teacher's global
      slot as the global slot's target (the algorithm drops the global
      slot's own term from the slot mean and logs it only as
      ``slot_global``); ``'beside'`` keeps both.
    * ``students='all'``: every student slot learns ``E`` (each on the views
      it is trained on), the loss being the mean over slots; ``'global'``:
      the global slot only.
    * ``feature_weight``: adds ``feature_weight * mean_{v, b} (1 - cos(g_s,
      norm(mean_j norm(f_j))))``, the student's global token feature of
      each global view against the teacher's ensemble feature of the same
      view: the ensemble of the token *features* (what kNN and the linear
      probe read) rather than of the head's outputs (:meth:`feature_loss`).

    Args:
        loss_weight (float): lambda. Defaults to 1.0.
        ensemble (Sequence[str]): Token kinds whose slots form the teacher
            ensemble, from ``('aux', 'pooled')``. Defaults to both: the
            paper calls both kinds auxiliary tokens.
        member_weights (str): ``'uniform'`` or ``'inverse_entropy'``.
        target_temp (float): Sharpening temperature of the aggregate.
            Defaults to 1.0 (none).
        center_target (bool): Centre the aggregate's log-probabilities.
            Defaults to False.
        center_momentum (float): Momentum of that centre. Defaults to 0.9.
        target_mode (str): ``'beside'`` or ``'replace'``.
        students (str): ``'global'`` or ``'all'``.
        feature_weight (float): Weight of the feature-level term. Defaults
            to 0.0 (none).
    """

    def __init__(self, loss_weight: float = 1.0,
                 ensemble: Sequence[str] = AUXILIARY_KINDS,
                 member_weights: str = 'uniform',
                 target_temp: float = 1.0,
                 center_target: bool = False,
                 center_momentum: float = 0.9,
                 target_mode: str = 'beside',
                 students: str = 'global',
                 feature_weight: float = 0.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        unknown = set(ensemble) - set(AUXILIARY_KINDS)
        if unknown or not ensemble:
            raise ValueError(f'EnsembleDistillLoss: ensemble={ensemble!r}; '
                             f'choose token kinds from {AUXILIARY_KINDS}')
        for name, value in (('loss_weight', loss_weight),
                            ('feature_weight', feature_weight)):
            if value < 0:
                raise ValueError(f'EnsembleDistillLoss: {name} must be >= 0, '
                                 f'got {value}')
        if target_temp <= 0:
            raise ValueError('EnsembleDistillLoss: target_temp must be > 0, '
                             f'got {target_temp}')
        for name, value, allowed in (
                ('member_weights', member_weights, MEMBER_WEIGHTS),
                ('target_mode', target_mode, TARGET_MODES),
                ('students', students, STUDENT_SLOTS)):
            if value not in allowed:
                raise ValueError(f'EnsembleDistillLoss: {name}={value!r}, '
                                 f'expected one of {allowed}')
        self.loss_weight = loss_weight
        self.ensemble = tuple(ensemble)
        self.member_weights = member_weights
        self.target_temp = target_temp
        self.center_target = center_target
        self.center_momentum = center_momentum
        self.target_mode = target_mode
        self.students = students
        self.feature_weight = feature_weight

    def bind(self, head: BaseSlotHead) -> None:
        """Check the options against the algorithm's head and make the
        ensemble centre (``center_target``). Called once by the algorithm,
        before any checkpoint is loaded."""
        distribution_only = dict(
            member_weights=self.member_weights != 'uniform',
            target_temp=self.target_temp != 1.0,
            center_target=self.center_target)
        if head.target_kind != 'probabilities':
            used = [name for name, on in distribution_only.items() if on]
            if used:
                raise ValueError(
                    f'EnsembleDistillLoss: {", ".join(used)} sharpen or '
                    f'weight distributions, but {type(head).__name__}\'s '
                    f'targets are {head.target_kind}')
        if self.center_target:
            self.register_buffer('center', torch.zeros(head.out_channels))

    def slots(self, layout: SlotLayout) -> list:
        """Indices of the ensemble slots in ``layout``."""
        return layout.indices(self.ensemble)

    def active(self, layout: SlotLayout) -> bool:
        """Whether there is an ensemble to distil (weight > 0 and slots of
        the ensemble kinds)."""
        return self.loss_weight > 0 and bool(self.slots(layout))

    def replaces_global_target(self, layout: SlotLayout) -> bool:
        """Whether the global slot's own target is dropped
        (``target_mode='replace'`` with an active ensemble)."""
        return self.target_mode == 'replace' and self.active(layout)

    def target(self, head: BaseSlotHead, targets: Tensor,
               layout: SlotLayout) -> Tensor:
        """The ensemble target ``(V_t, B, 1, D)`` of ``(V_t, B, S, D)``
        teacher targets (updates the ensemble centre, if any)."""
        members = targets[:, :, self.slots(layout)]
        weights = entropy_weights(members) \
            if self.member_weights == 'inverse_entropy' else None
        ensemble = head.aggregate(members, weights)
        if self.target_temp == 1.0 and not self.center_target:
            return ensemble
        log_ensemble = torch.log(at_least_float32(ensemble).clamp_min(
            torch.finfo(torch.float32).tiny))
        centred = log_ensemble - self.center if self.center_target \
            else log_ensemble
        sharpened = F.softmax(centred / self.target_temp, dim=-1)
        if self.center_target:
            update_center(self.center, log_ensemble.sum(dim=(0, 1, 2)),
                          log_ensemble[..., 0].numel(),
                          self.center_momentum)
        return sharpened

    def forward(self, head: BaseSlotHead, predictions: Views,
                targets: Tensor, layout: SlotLayout) -> Optional[Tensor]:
        """The weighted loss, or None when there is nothing to distil.

        Args:
            head (BaseSlotHead): The algorithm's head.
            predictions (ViewGroups | Tensor): The student's predictions
                (views that train the global slot only have one slot).
            targets (Tensor): All teacher targets ``(V_t, B, S, D)``.
            layout (SlotLayout): The model's slot layout.
        """
        if not self.active(layout):
            return None
        # a teacher, never trained through the target (a SiameseTeacher's
        # targets carry gradients)
        ensemble = self.target(head, targets.detach(), layout)
        views = ViewGroups.of(predictions)
        loss = head.loss(views.slots(layout.slice('global')), ensemble).sum()
        if self.students == 'all' and layout.num_slots > 1:
            others = views.slots(layout.auxiliary)
            loss = (loss + head.loss(others, ensemble.expand(
                -1, -1, layout.num_slots - 1, -1)).sum()) / layout.num_slots
        return self.loss_weight * loss

    def losses(self, head: BaseSlotHead, layout: SlotLayout,
               predictions: Views, targets: Tensor, student: EncodedViews,
               teacher: EncodedViews) -> Dict[str, Tensor]:
        """The algorithm's distillation terms: ``loss_distill``
        (:meth:`forward`) and ``loss_distill_feature`` (:meth:`feature_loss`,
        with ``feature_weight``), each when it has something to distil.

        Args:
            head (BaseSlotHead): The algorithm's head.
            layout (SlotLayout): The model's slot layout.
            predictions (ViewGroups | Tensor): The student's predictions.
            targets (Tensor): The teacher's targets ``(V_t, B, S, D)``.
            student (EncodedViews): The student's forwards (every view).
            teacher (EncodedViews): The teacher's forwards (its ``V_t``
                views, the student's first).
        """
        losses = {}
        loss = self(head, predictions, targets, layout)
        if loss is not None:
            losses['loss_distill'] = loss
        if self.feature_weight:
            feature = self.feature_loss(
                student.views('slots').first(teacher.num_views)[:, :, 0],
                teacher.views('slots').cat(), layout)
            if feature is not None:
                losses['loss_distill_feature'] = feature
        return losses

    def feature_loss(self, student_global: Tensor, teacher_slots: Tensor,
                     layout: SlotLayout) -> Optional[Tensor]:
        """``feature_weight * mean (1 - cos(g, norm(mean_j norm(f_j))))``.

        Args:
            student_global (Tensor): ``(V_t, B, C)`` the student's global
                token features of the teacher's views.
            teacher_slots (Tensor): ``(V_t, B, S, C)`` the teacher's slot
                features of the same views (no gradient).
            layout (SlotLayout): The model's slot layout.

        Returns:
            Tensor | None: None when ``feature_weight`` is 0 or there is no
            ensemble slot.
        """
        slots = self.slots(layout)
        if self.feature_weight == 0 or not slots:
            return None
        target = F.normalize(F.normalize(
            at_least_float32(teacher_slots[:, :, slots]), dim=-1).mean(2),
            dim=-1)
        cos = (F.normalize(at_least_float32(student_global), dim=-1) *
               target.detach()).sum(-1)
        return self.feature_weight * (1 - cos).mean()
