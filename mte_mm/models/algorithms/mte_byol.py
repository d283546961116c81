"""Multi-Token Enhancing on BYOL (MTE, Li et al., arXiv 2411.15787; BYOL,
Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020). With no auxiliary
or pooled token and no distillation this is exactly mmpretrain's ``BYOL``.
"""
from typing import Optional

from ...registry import MODELS
from .base_mte import BaseMTESelfSupervisor


@MODELS.register_module()
class MTEBYOL(BaseMTESelfSupervisor):
    """BYOL's loss per token slot (:class:`LatentPredictSlotHead` with
    ``loss_weight=2``: the online prediction of slot j on one view against
    the target network's projection of slot j on the other view) and the
    distillation of the target network's ensemble of slots into the global
    prediction. The target network is the EMA teacher of backbone + neck
    (mmpretrain's ``CosineEMA``, ``base_momentum`` -> 0); each view is its
    own forward (per-view batch statistics, as mmpretrain).

    How the next methods follow: SimCLR is this step with a
    :class:`SiameseTeacher` and an NT-Xent slot head (slot j of the other
    view as the positive, the batch's slot j as negatives); MoCo v2 is
    :class:`MTEMoCoV3`'s step on a ResNet with a slot head that keeps a
    queue of keys per slot. Neither needs more than its head and a config.

    Args:
        backbone (dict): A token backbone (``FeatureMapTokenAdapter`` around
            mmpretrain's ``ResNet``, or an MTE ViT).
        neck (dict): A :class:`MultiTokenNeck` whose projector is
            mmpretrain's ``NonLinearNeck`` (``with_avg_pool=False``: the
            global token is already pooled).
        head (dict): A :class:`LatentPredictSlotHead` config.
        distill (dict, optional): An :class:`EnsembleDistillLoss` config.
        **kwargs: ``teacher`` (default: an :class:`EMATeacher` whose
            ``momentum``, the student's weight in the target update at step
            0, is 0.004 as mmpretrain's BYOL; its ResNet-50 recipe sets
            ``base_momentum=0.01``), ``views`` (two views, each its own
            forward), ``base_momentum``, ``data_preprocessor``, ``init_cfg``
            and the other options of :class:`BaseMTESelfSupervisor`.
    """

    default_views = dict(num_views=2)
    fixed_views = ('num_views', )  # the head's symmetric two-view loss

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 distill: Optional[dict] = None, **kwargs):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         distill=distill, **kwargs)
