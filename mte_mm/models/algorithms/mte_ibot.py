"""Multi-Token Enhancing on iBOT (MTE, Li et al., arXiv 2411.15787; iBOT,
Zhou et al., "iBOT: Image BERT Pre-Training with Online Tokenizer", ICLR
2022). With no auxiliary or pooled token and no distillation this is
exactly iBOT, our baseline."""
from typing import Dict, List, Optional

import torch
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ...registry import MODELS
from ..utils.encoded_views import EncodedViews
from .mte_dino import MTEDINO


@MODELS.register_module()
class MTEiBOT(MTEDINO):
    """MTE-DINO's per-slot CLS-level loss and distillation on iBOT's masked
    global views, plus iBOT's masked patch loss (:class:`IBOTPatchLoss`).

    * Student: the global views with their block masks (masked patch
      embeddings replaced by the backbone's mask token), so its global,
      auxiliary and pooled tokens all come from the masked input (pooling
      over all patch tokens, masked ones included); the local views
      unmasked, global token only (``aux_loss_views='global'``).
    * Teacher: the unmasked global views; its patch tokens are projected
      (:meth:`project_patches`: the neck's projector, an
      :class:`IBOTProjector`) at every patch, because the patch centre is the
      mean over all of them. The student's only at its masked patches: the
      8192-way last layer on every patch is the dominant cost.
    * Losses: ``loss_global`` / ``loss_aux`` / ``loss_pooled`` /
      ``loss_distill`` as :class:`MTEDINO`, and ``loss_patch``.

    Args:
        backbone (dict): An :class:`MTEVisionTransformer` with
            ``use_mask_token=True``.
        neck (dict): A :class:`MultiTokenNeck` whose projector is an
            :class:`IBOTProjector`.
        head (dict): A :class:`DINOSlotHead` config (CLS-level slots).
        patch_loss (dict): An :class:`IBOTPatchLoss` config.
        distill (dict, optional): An :class:`EnsembleDistillLoss` config.
        pred_start_epoch (int): Epochs before this one mask nothing (the
            patch loss is 0). iBOT's dataset zeroes its masks before it; we
            do it here because the model always knows the epoch, while data
            workers that persist across epochs do not. As the official
            ``mim_start_epoch``, it also delays the patch loss's teacher
            temperature warm-up by as many epochs
            (:meth:`patch_schedule_epoch`). Defaults to 0.
        **kwargs: :class:`MTEDINO`'s ``num_global_views``,
            ``freeze_last_layer_epochs``, ``aux_loss_views``,
            ``base_momentum``, ``data_preprocessor``, ``init_cfg``.

    The masks come from the data pipeline: :class:`IBOTBlockMasks` after
    ``MultiView``, and ``PackInputs(algorithm_keys=['masks'])``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 patch_loss: dict,
                 distill: Optional[dict] = None,
                 pred_start_epoch: int = 0,
                 **kwargs):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         distill=distill, **kwargs)
        if getattr(self.backbone, 'mask_token', None) is None:
            raise TypeError('MTEiBOT: the backbone needs a mask token (set '
                            'model.backbone.use_mask_token=True)')
        if not hasattr(self.neck.projectors()[0], 'forward_patches'):
            raise TypeError('MTEiBOT: model.neck.projector must project '
                            'patch tokens (type=IBOTProjector), got '
                            f'{type(self.neck.projectors()[0]).__name__}')
        self.patch_loss = MMPRETRAIN_MODELS.build(patch_loss)
        self.pred_start_epoch = pred_start_epoch

    def student_forward(self, inputs: List[Tensor],
                        data_samples: List[DataSample],
                        epoch: int) -> EncodedViews:
        """The student's forwards, its global views masked
        (:meth:`block_masks`, given to the backbone as ``mask``)."""
        return self.encode_views(
            self._student(), inputs,
            view_kwargs=dict(mask=self.block_masks(inputs, data_samples,
                                                   epoch)))

    def block_masks(self, inputs: List[Tensor],
                    data_samples: List[DataSample], epoch: int) -> Tensor:
        """``(V_t, B, P)`` bool masks of the global views (all False before
        ``pred_start_epoch``)."""
        if not data_samples or 'masks' not in data_samples[0]:
            raise ValueError(
                'MTEiBOT needs a block mask per crop in data_samples[i].masks'
                ': add dict(type=\'IBOTBlockMasks\') after MultiView and '
                'PackInputs(algorithm_keys=[\'masks\']) to the pipeline')
        masks = torch.stack([
            torch.stack([sample.masks[view] for sample in data_samples])
            for view in range(self.num_global_views)]).flatten(2)
        stride = self.backbone.patch_embed.projection.stride
        num_patches = (inputs[0].shape[-2] // stride[0]) * (
            inputs[0].shape[-1] // stride[1])
        if masks.shape[-1] != num_patches:
            raise ValueError(
                f'MTEiBOT: masks of {masks.shape[-1]} patches for '
                f'{tuple(inputs[0].shape[-2:])} px global views of '
                f'{num_patches} patches (IBOTBlockMasks.patch_size must be '
                'the backbone\'s)')
        if epoch < self.pred_start_epoch:
            masks = torch.zeros_like(masks)
        return masks.to(inputs[0].device)

    def patch_schedule_epoch(self, epoch: int) -> int:
        """Where ``epoch`` is in the patch loss's teacher-temperature
        warm-up: it starts at ``pred_start_epoch`` (the warm-up value
        before), as the official iBOT schedule with ``mim_start_epoch``."""
        return max(epoch - self.pred_start_epoch, 0)

    @staticmethod
    def project_patches(neck, patches: Tensor) -> Tensor:
        """``(..., C)`` patch tokens -> ``(..., D)`` through ``neck``'s
        (global token's) :class:`IBOTProjector` patch path."""
        return neck.projectors()[0].forward_patches(patches)

    def extra_losses(self, student: EncodedViews, teacher: EncodedViews,
                     epoch: int) -> Dict[str, Tensor]:
        """iBOT's masked-patch loss on the global views (and its centre
        update)."""
        masks = student.view_kwargs['mask']  # (V_t, B, P)
        masked = masks.flatten(0, 1)  # (V_t * B, P), the views' row order
        with torch.no_grad():
            teacher_patches = self.project_patches(
                self.teacher.module['neck'],
                teacher.views('x_norm_patchtokens').cat().flatten(0, 1))
            patch_targets = self.patch_loss.targets(
                teacher_patches[masked], self.patch_schedule_epoch(epoch))
        student_patches = student.views('x_norm_patchtokens').first(
            masks.shape[0]).flatten(0, 1)
        loss = self.patch_loss.loss(
            self.project_patches(self.neck, student_patches[masked]),
            patch_targets, masks)
        self.patch_loss.update(teacher_patches)
        return dict(loss_patch=loss)
