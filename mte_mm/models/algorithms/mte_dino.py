"""Multi-Token Enhancing on DINO (MTE, Li et al., arXiv 2411.15787; DINO,
Caron et al., ICCV 2021). With no auxiliary or pooled token and no
distillation this is exactly DINO, our baseline."""
import logging
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmpretrain.structures import DataSample
from torch import Tensor

from ...registry import MODELS
from .base_mte import BaseMTESelfSupervisor
from .legacy import check_moved_args

AUX_LOSS_VIEWS = ('global', 'all')


@MODELS.register_module()
class MTEDINO(BaseMTESelfSupervisor):
    """Every token slot gets DINO's cross-view loss (student slot j on each
    view learns the teacher's centred, sharpened slot j on the other global
    views) and the global token also learns the teacher's ensemble of
    auxiliary slots (:class:`EnsembleDistillLoss`). The teacher sees the
    first ``num_global_views`` views. See :class:`BaseMTESelfSupervisor`
    for the teacher, the slots and the logged losses.

    Args:
        backbone (dict): An :class:`MTEVisionTransformer` config.
        neck (dict): A :class:`MultiTokenNeck` whose projector is a
            :class:`DINOHead`.
        head (dict): A :class:`DINOLoss` config (``num_slots`` is filled
            in from the slot layout).
        distill (dict, optional): An :class:`EnsembleDistillLoss` config.
        num_global_views (int): Leading views that are global crops.
        freeze_last_layer_epochs (int): Epochs with a frozen last projector
            layer. Defaults to 1 (DINO).
        aux_loss_views (str): Student views on which the auxiliary and pooled
            slots are trained: ``'global'`` (default: the global crops; local
            crops pass only the global token through the projector) or
            ``'all'`` (every crop, the literal per-token loss of our spec).
            The global token and the distillation always use every view.
            Why the default deviates: the paper promises a small training
            overhead, and with a shared 65536-way head, training S slots on
            all 10 crops multiplies the head's work by S on the local crops;
            measured at ViT-S/16 (tools/benchmarks/train_overhead.py, CPU):
            N = K = 4 costs 1.23x DINO's step time with ``'all'``, 1.05x
            with ``'global'`` (1.08x in a later, noisier session; README).
        **kwargs: ``base_momentum`` (default 0.004: DINO's 0.996 -> 1),
            ``data_preprocessor``, ``init_cfg``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 distill: Optional[dict] = None,
                 num_global_views: int = 2,
                 freeze_last_layer_epochs: int = 1,
                 aux_loss_views: str = 'global',
                 **kwargs):
        check_moved_args('MTEDINO', kwargs)
        if aux_loss_views not in AUX_LOSS_VIEWS:
            raise ValueError(f'aux_loss_views must be one of {AUX_LOSS_VIEWS}'
                             f', got {aux_loss_views!r}')
        super().__init__(backbone=backbone, neck=neck, head=head,
                         distill=distill, **kwargs)
        self.aux_loss_views = aux_loss_views
        self.num_global_views = num_global_views
        self.freeze_last_layer_epochs = freeze_last_layer_epochs

    def frozen_parameters(self) -> list:
        """The projector's last layer during the first
        ``freeze_last_layer_epochs`` epochs (DINO)."""
        if self.current_epoch() < self.freeze_last_layer_epochs:
            return self.neck.last_layer_parameters()
        return []

    def update_last_layer_freeze(self, epoch: int) -> None:
        """Zero the last layer's gradients in this step's backward while it
        is frozen (:meth:`frozen_parameters`; :class:`FrozenParamsHook`
        then removes them before the optimizer step)."""
        frozen = epoch < self.freeze_last_layer_epochs
        self.neck.freeze_last_layer(frozen)
        if frozen and not getattr(self, 'frozen_grads_removed', False) and \
                not getattr(self, '_warned_frozen', False):
            self._warned_frozen = True
            print_log(
                f'{type(self).__name__}: the last projector layer is frozen '
                'but no FrozenParamsHook is registered, so the optimizer '
                'still weight-decays it; add dict(type=\'FrozenParamsHook\') '
                'to default_hooks (configs/_base_/default_runtime.py has it)',
                logger='current', level=logging.WARNING)

    def head_config(self, head: dict) -> dict:
        return dict(head, num_slots=self.layout.num_slots)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        self.check_views(inputs)
        epoch = self.current_epoch()
        self.update_last_layer_freeze(epoch)
        teacher_out, targets = self.teacher_step(inputs, epoch)
        student_out = self.student_step(inputs)
        losses = self.cls_losses(student_out, targets, teacher_out)
        self.head.update(teacher_out['projected'])
        return losses

    # -- the steps MTE-iBOT shares ---------------------------------------
    def check_views(self, inputs: List[Tensor]) -> None:
        if not isinstance(inputs, (list, tuple)) or \
                len(inputs) < self.num_global_views:
            raise ValueError(f'{type(self).__name__} needs a list of >= '
                             f'{self.num_global_views} views (use the '
                             'MultiView transform)')

    @torch.no_grad()
    def teacher_step(self, inputs: List[Tensor], epoch: int
                     ) -> Tuple[Dict[str, Tensor], Tensor]:
        """EMA update, then the teacher's tokens of the global views
        (``projected`` as ``(V_t, B, S, D)``, other tensors
        ``(V_t * B, ...)``) and its per-slot targets."""
        self.update_teacher()
        groups = self.encode_views(self.teacher.module,
                                   inputs[:self.num_global_views])
        # (the global views share one forward unless their sizes differ)
        out = {key: groups[0][key] if len(groups) == 1 else
               torch.cat([g[key] for g in groups])
               for key in ('projected', 'slots', 'x_norm_patchtokens')}
        out['projected'] = out['projected'].view(
            -1, inputs[0].shape[0], *out['projected'].shape[1:])
        return out, self.head.targets(out['projected'], epoch)

    def student_step(self, inputs: List[Tensor],
                     masks: Optional[Tensor] = None
                     ) -> List[Dict[str, Tensor]]:
        """The student's tokens per group of views (``masks`` (V_t, B, P)
        for the global views, iBOT); ``predictions`` ``(V_g, B, S, D)``:
        the head's log-probabilities of the projected slots."""
        local_global_only = self.aux_loss_views == 'global' and \
            self.layout.num_slots > 1
        groups = self.encode_views(
            self._student(), inputs,
            global_only_from=self.num_global_views
            if local_global_only else None, masks=masks)
        batch = inputs[0].shape[0]
        for out in groups:
            out['predictions'] = self.head.predictions(out['projected'].view(
                -1, batch, *out['projected'].shape[1:]))
        return groups

    def cls_losses(self, student_out: List[Dict[str, Tensor]],
                   targets: Tensor, teacher_out: Dict[str, Tensor]
                   ) -> Dict[str, Tensor]:
        """DINO's cross-view loss per slot (the global slot on every view,
        the others on the views that have them) and the distillation."""
        predictions = [out['predictions'] for out in student_out]
        per_slot = self.head.loss([p[:, :, :1] for p in predictions],
                                  targets[:, :, :1])
        if self.layout.num_slots > 1:
            per_slot = torch.cat([per_slot, self.head.loss(
                [p[:, :, 1:] for p in predictions if p.shape[2] > 1],
                targets[:, :, 1:])])
        losses = self.slot_losses(per_slot)
        losses.update(self.distill_losses(predictions, targets))
        if self.distill is not None and self.distill.feature_weight:
            teacher_slots = teacher_out['slots']  # (V_t * B, S, C)
            batch, channels = targets.shape[1], teacher_slots.shape[-1]
            student_global = self.global_view_tensor(student_out, 'slots')
            losses.update(self.feature_distill_losses(
                student_global[:, 0].view(-1, batch, channels),
                teacher_slots.view(-1, batch, *teacher_slots.shape[1:])))
        return losses

    def global_view_tensor(self, student_out: List[Dict[str, Tensor]],
                           key: str) -> Tensor:
        """The student's ``key`` tensor of the global views, ``(V_t * B,
        ...)`` (the global views are one forward unless their sizes
        differ)."""
        groups, views = [], 0
        for out in student_out:
            if views == self.num_global_views:
                break
            groups.append(out[key])
            views += out['predictions'].shape[0]
        return groups[0] if len(groups) == 1 else torch.cat(groups)
