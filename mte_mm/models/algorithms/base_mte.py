"""What every Multi-Token Enhancing self-supervisor shares (MTE, Li et al.,
arXiv 2411.15787): one training step driven by parts the config names (the
teacher, the view policy, the slot head, the distillation), token slots, the
slot-mean loss and its logged names, and one accessor for the teacher's
tokens (used by export, kNN and token maps)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.logging import MessageHub
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from ..utils.encoded_views import EncodedViews
from ..utils.slot_layout import AUXILIARY_KINDS, SlotLayout
from ..utils.teachers import build_teacher, resolve_teacher_config
from ..utils.view_groups import ViewGroups
from ..utils.view_policy import build_view_policy

SOURCES = ('teacher', 'student')
SLOT_WEIGHTINGS = ('mean', 'global_full')


class BaseMTESelfSupervisor(BaseSelfSupervisor):
    """Student (backbone + neck + head) and a teacher (backbone + neck:
    an EMA copy by default, or the student itself), mmpretrain's split of
    roles.

    * ``backbone`` makes the tokens (``forward_tokens``: global, auxiliary
      CLS and patch tokens), ``neck`` the slots ``[g, a_1..a_N, p_1..p_K]``
      and their projections (:class:`MultiTokenNeck`), ``head`` the base
      method's criterion per slot (:class:`BaseSlotHead`), ``distill`` the
      ensemble distillation (:class:`EnsembleDistillLoss`).
    * The teacher (``teacher``: :class:`EMATeacher`, mmpretrain's
      ``CosineEMA`` whose ``momentum`` is the *student's* weight, or
      :class:`StopGradTeacher`) is updated by :meth:`update_teacher` under
      ``no_grad`` right before the teacher forward (as mmpretrain's MoCo
      v3). A :class:`StopGradTeacher` costs no forward: its outputs are the
      student's, detached.
    * :meth:`loss` is the one step every method shares: the student's
      forwards on every view and the teacher's on its views, grouped as the
      view policy says (:class:`ViewPolicy`, :class:`EncodedViews`); the
      head's predictions and targets of the projected slots and its loss
      per slot; the distillation; and the method's own terms
      (:meth:`extra_losses`). A method adds only its head and, where it
      has them, :meth:`student_forward` (e.g. inputs of its own for the
      backbone), :meth:`extra_losses` and :meth:`frozen_parameters`.
    * Losses: ``L = mean_j L_j + lambda * L_distill``, logged as
      ``loss_global`` / ``loss_aux`` / ``loss_pooled`` (each kind's share of
      the slot mean, so they add up to it) and ``loss_distill``; with more
      than one slot also the unscaled mean per slot of each kind as
      ``slot_global`` / ``slot_aux`` / ``slot_pooled`` (names without
      "loss", which mmengine logs but does not add to the loss).

    Args:
        backbone (dict): A backbone with ``forward_tokens`` and
            ``num_aux_tokens`` (:class:`MTEVisionTransformer`).
        neck (dict): A :class:`MultiTokenNeck` config.
        head (dict): A :class:`BaseSlotHead` config.
        distill (dict, optional): An :class:`EnsembleDistillLoss` config;
            None: no distillation.
        views (dict, optional): Updates the method's view policy
            (:attr:`default_views`, a :class:`ViewPolicy`: which views the
            teacher sees, which train the auxiliary slots, whether same-size
            views share a forward) key by key; a key the method's step
            depends on (:attr:`fixed_views`) cannot change.
        teacher (dict, optional): The teacher, a registered part
            (:mod:`mte_mm.models.utils.teachers`): ``EMATeacher`` (an EMA
            copy), ``StopGradTeacher`` (the student itself under
            ``no_grad``) or ``SiameseTeacher`` (the student itself, trained
            through both branches). Without a ``type``, or with the default's,
            it updates the method's :attr:`default_teacher` key by key.
        base_momentum (float, optional): mmpretrain's name for the EMA
            teacher's ``momentum`` (the student's weight in its update at
            step 0, cosine to ``end_momentum``, 0 by default, over
            training); unused by a teacher without momentum. None: the
            default teacher's.
        slot_weighting (str): ``'mean'`` (default, our reconstruction's
            ``L_tok = mean_j L_j``: the global slot's own loss weighs 1/S) or
            ``'global_full'`` (``L_tok = L_global + mean_{j != g} L_j``: the
            global token keeps its base method's full loss and the extra
            slots share one unit; an open choice under study, see the
            README's evidence section). The same for N = K = 0.
        compile_backbone (bool | dict): ``torch.compile`` the student's and
            the teacher's ``backbone.forward_tokens`` (True: with
            ``dynamic=False``, a graph per crop size; a dict: the options
            of ``torch.compile``). The modules and their state dicts are
            unchanged, so checkpoints are the same with and without it.
    """

    #: the method's view policy (:class:`ViewPolicy` arguments), which the
    #: config's ``views`` updates key by key
    default_views: dict = {}
    #: keys of :attr:`default_views` that the method's step depends on: a
    #: config may restate them, not change them
    fixed_views: tuple = ()
    #: the method's teacher when the config names none
    default_teacher: dict = dict(type='EMATeacher', momentum=0.004)

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 distill: Optional[dict] = None,
                 views: Optional[dict] = None,
                 teacher: Optional[dict] = None,
                 base_momentum: Optional[float] = None,
                 slot_weighting: str = 'mean',
                 compile_backbone: Union[bool, dict] = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if slot_weighting not in SLOT_WEIGHTINGS:
            raise ValueError(f'slot_weighting must be one of '
                             f'{SLOT_WEIGHTINGS}, got {slot_weighting!r}')
        self.slot_weighting = slot_weighting
        self.views = build_view_policy(self.default_views, views,
                                       self.fixed_views, type(self).__name__)
        super().__init__(backbone=backbone, neck=neck, head=None,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if not hasattr(self.backbone, 'forward_tokens'):
            raise TypeError(f'{type(self).__name__}: backbone '
                            f'{type(self.backbone).__name__} has no '
                            'forward_tokens() (use an mte_mm backbone)')
        self.layout = SlotLayout(self.backbone.num_aux_tokens,
                                 self.neck.num_pooled_tokens)
        # built once the layout is known (a head may keep state per slot)
        self.head = MMPRETRAIN_MODELS.build(self.head_config(head))
        self.distill = MMPRETRAIN_MODELS.build(distill) if distill else None
        if self.distill is not None:
            self.distill.bind(self.head)
        self.teacher = build_teacher(
            resolve_teacher_config(self.default_teacher, teacher,
                                   base_momentum), self._student)
        if compile_backbone:
            # after the teacher's copy: each backbone compiles its own
            # bound method (a copy made later would call the original's)
            # True: static shapes, one graph per crop size (multi-crop has
            # two). torch's automatic dynamic shapes, which a second crop
            # size switches on, fail in inductor for ConvNeXt (torch 2.14:
            # "cannot determine truth value of Relational")
            options = dict(dynamic=False) if compile_backbone is True else \
                dict(compile_backbone)
            backbones = [self.backbone] + ([self.teacher.module['backbone']]
                                           if self.teacher.is_copy else [])
            for backbone in backbones:
                backbone.forward_tokens = torch.compile(
                    backbone.forward_tokens, **options)

    def head_config(self, head: dict) -> dict:
        """The head config, completed from ``self.layout`` if the head
        needs it (e.g. a centre per slot)."""
        return head

    def _student(self) -> nn.ModuleDict:
        """The modules the teacher averages (built on demand, so their
        parameters are not registered twice)."""
        return nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck))

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its copy."""
        super().init_weights()
        if not self.teacher.is_copy:
            return
        teacher = dict(self.teacher.module.named_parameters())
        with torch.no_grad():
            for name, param in self._student().named_parameters():
                teacher[name].copy_(param)

    # -- shared steps ------------------------------------------------------
    def frozen_parameters(self) -> list:
        """Parameters frozen at this point of training, which
        :class:`FrozenParamsHook` keeps out of the optimizer step. None by
        default."""
        return []

    @staticmethod
    def current_epoch() -> int:
        return MessageHub.get_current_instance().get_info('epoch') or 0

    def update_teacher(self) -> None:
        """One EMA step of the teacher towards the student."""
        with torch.no_grad():
            self.teacher.update_parameters(self._student())

    def encoders(self, source: str) -> nn.ModuleDict:
        """``backbone`` and ``neck`` of the teacher or the student: the one
        accessor that kNN, token maps and feature extraction read."""
        if source not in SOURCES:
            raise ValueError(f'source must be one of {SOURCES}, got '
                             f'{source!r}')
        return self.teacher.module if source == 'teacher' else \
            self._student()

    def encode(self, modules: nn.ModuleDict, images: Tensor,
               global_only: bool = False, **backbone_kwargs
               ) -> Dict[str, Tensor]:
        """Backbone tokens plus the neck's slots and projections
        (``projected`` (B, S, D); S = 1 with ``global_only``, which skips
        the auxiliary and pooled tokens entirely). ``backbone_kwargs`` go to
        ``forward_tokens`` (e.g. a patch ``mask``)."""
        tokens = modules['backbone'].forward_tokens(
            images, with_aux=not global_only, **backbone_kwargs)
        tokens.update(modules['neck'](tokens, global_only=global_only))
        return tokens

    def encode_views(self, modules: nn.ModuleDict, views: Sequence[Tensor],
                     view_kwargs: Optional[Dict[str, Tensor]] = None
                     ) -> EncodedViews:
        """:meth:`encode` per forward of the view policy
        (:meth:`ViewPolicy.forwards`). ``view_kwargs`` ``(V_k, B, ...)``
        are given to the backbone for the first ``V_k`` views (a forward
        must be all in them or all out)."""
        view_kwargs = dict(view_kwargs or {})
        num_given = min((value.shape[0] for value in view_kwargs.values()),
                        default=0)
        groups = []
        for start, end, global_only in self.views.forwards(
                views, self.layout.num_slots):
            if start < num_given < end:
                raise ValueError(
                    f'{sorted(view_kwargs)} cover views [0, {num_given}) but '
                    f'views [{start}, {end}) share a forward')
            kwargs = {key: value[start:end].flatten(0, 1)
                      for key, value in view_kwargs.items()} \
                if end <= num_given else {}
            groups.append(self.encode(modules, torch.cat(list(
                views[start:end])), global_only, **kwargs))
        return EncodedViews(groups, views[0].shape[0], view_kwargs)

    # -- the one step --------------------------------------------------------
    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """One MTE step (see the class docstring)."""
        self.views.check(inputs, type(self).__name__)
        epoch = self.current_epoch()
        student = self.student_forward(inputs, data_samples, epoch)
        teacher = self.teacher_forward(inputs, student)
        predictions = self.head.predictions(student.views('projected'))
        teacher_projected = teacher.views('projected').cat()
        targets = self.head.targets(teacher_projected, epoch)
        losses = self.slot_losses(self.head.loss_per_slot(predictions,
                                                          targets))
        losses.update(self.distill_losses(predictions, targets, student,
                                          teacher))
        losses.update(self.extra_losses(student, teacher, epoch))
        self.head.update(teacher_projected)
        return losses

    def extra_losses(self, student: EncodedViews, teacher: EncodedViews,
                     epoch: int) -> Dict[str, Tensor]:
        """A method's own terms beside the slot losses (e.g. a masked-patch
        loss). None by default."""
        return {}

    def student_forward(self, inputs: List[Tensor],
                        data_samples: List[DataSample],
                        epoch: int) -> EncodedViews:
        """The student's outputs on every view."""
        return self.encode_views(self._student(), inputs)

    def teacher_forward(self, inputs: List[Tensor],
                        student: EncodedViews) -> EncodedViews:
        """The teacher's outputs on its views (the first
        :meth:`ViewPolicy.num_teacher_views`), after its update. A teacher
        that is the student (:class:`StopGradTeacher`,
        :class:`SiameseTeacher`) reuses the student's forward (detached
        unless Siamese) instead of a second one, unless that forward was
        given per-view inputs of its own (e.g. patch masks)."""
        num_views = self.views.num_teacher_views(inputs)
        stop_grad = self.teacher.stop_grad
        with torch.set_grad_enabled(torch.is_grad_enabled() and
                                    not stop_grad):
            self.update_teacher()
            if not self.teacher.is_copy and not student.view_kwargs:
                teacher = student.first(num_views)
            else:
                teacher = self.encode_views(self.teacher.module,
                                            inputs[:num_views])
        return teacher.detach() if stop_grad else teacher

    def slot_losses(self, per_slot: Tensor) -> Dict[str, Tensor]:
        """``loss_<kind>``: each kind's share of ``L_tok`` (see
        ``slot_weighting``); with more than one slot also ``slot_<kind>``:
        its unscaled mean per slot."""
        layout = self.layout
        global_full = self.slot_weighting == 'global_full' and \
            layout.num_slots > 1  # L_global + mean of the other slots
        # the ensemble is the global slot's only target (logged unscaled)
        replaced = self.distill is not None and \
            self.distill.replaces_global_target(layout)
        losses = {}
        for kind, value in layout.split(per_slot).items():
            if kind == 'global' and replaced:
                continue
            if global_full:
                losses[f'loss_{kind}'] = value if kind == 'global' else \
                    value / (layout.num_slots - 1)
            else:
                losses[f'loss_{kind}'] = value / layout.num_slots
        if layout.num_slots > 1:
            for kind, value in layout.split(per_slot.detach()).items():
                losses[f'slot_{kind}'] = value / layout.count(kind)
        return losses

    def distill_losses(self, predictions: ViewGroups, targets: Tensor,
                       student: EncodedViews, teacher: EncodedViews
                       ) -> Dict[str, Tensor]:
        """``loss_distill`` (and ``loss_distill_feature``) of the
        distillation, if any (:meth:`EnsembleDistillLoss.losses`)."""
        if self.distill is None:
            return {}
        return self.distill.losses(self.head, self.layout, predictions,
                                   targets, student, teacher)

    @property
    def ensemble_kinds(self) -> tuple:
        """The token kinds of the distilled ensemble (both auxiliary kinds
        without distillation): what kNN and diagnostics call
        ``ensemble``."""
        return self.distill.ensemble if self.distill is not None \
            else AUXILIARY_KINDS

    # -- evaluation --------------------------------------------------------
    @torch.no_grad()
    def extract_tokens(self, images: Tensor, source: str = 'teacher',
                       with_aux: bool = True) -> Dict[str, Tensor]:
        """Backbone tokens and (``with_aux``) the pooled tokens and pooling
        weights of ``images``, from the teacher (default) or the student:
        ``x_norm_clstoken`` (B, C), ``x_norm_auxtokens`` (B, N, C),
        ``x_norm_pooledtokens`` (B, K, C), ``x_norm_patchtokens`` (B, P, C),
        ``pool_weights`` (B, K, P)."""
        modules = self.encoders(source)
        tokens = modules['backbone'].forward_tokens(images,
                                                    with_aux=with_aux)
        tokens.update(modules['neck'].slots(tokens, global_only=not with_aux))
        del tokens['slots']
        return tokens

    @torch.no_grad()
    def token_maps(self, images: Tensor, source: str = 'teacher'
                   ) -> Dict[str, Tensor]:
        """Last-layer attention of the global and auxiliary tokens over the
        patches (``global_map`` (B, P), ``aux`` (B, N, P)) and the pooling
        weights (``pooled`` (B, K, P)), for visualisation."""
        modules = self.encoders(source)
        maps = modules['backbone'].last_layer_attention(images)
        maps['pooled'] = self.extract_tokens(images, source)['pool_weights']
        return maps

