"""Multi-Token Enhancing on SimSiam (MTE, Li et al., arXiv 2411.15787;
SimSiam, Chen & He, "Exploring Simple Siamese Representation Learning", CVPR
2021). With no auxiliary or pooled token and no distillation this is exactly
mmpretrain's ``SimSiam``."""
from typing import Optional

from ...registry import MODELS
from .base_mte import BaseMTESelfSupervisor


@MODELS.register_module()
class MTESimSiam(BaseMTESelfSupervisor):
    """SimSiam's loss per token slot (:class:`LatentPredictSlotHead` with
    ``loss_weight=0.5``) against the student's own projections under a stop
    gradient (:class:`StopGradTeacher`: no momentum encoder, no second
    forward), and the distillation of the ensemble of slots into the global
    prediction. Each view is its own forward.

    Args:
        backbone (dict): A token backbone.
        neck (dict): A :class:`MultiTokenNeck` whose projector is
            mmpretrain's ``NonLinearNeck`` (``with_avg_pool=False``).
        head (dict): A :class:`LatentPredictSlotHead` config.
        distill (dict, optional): An :class:`EnsembleDistillLoss` config.
        **kwargs: ``teacher`` (default: :class:`StopGradTeacher`),
            ``views`` (two views, each its own forward),
            ``data_preprocessor``, ``init_cfg`` and the other options of
            :class:`BaseMTESelfSupervisor`.
    """

    default_views = dict(num_views=2)
    fixed_views = ('num_views', )  # the head's symmetric two-view loss
    default_teacher = dict(type='StopGradTeacher')

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 distill: Optional[dict] = None, **kwargs):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         distill=distill, **kwargs)
