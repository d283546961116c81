"""Multi-Token Enhancing on Barlow Twins (MTE, Li et al., arXiv 2411.15787;
Barlow Twins, Zbontar et al., "Self-Supervised Learning via Redundancy
Reduction", ICML 2021). With no auxiliary or pooled token and no
distillation this is exactly mmpretrain's ``BarlowTwins``."""
from typing import Optional

from ...registry import MODELS
from .base_mte import BaseMTESelfSupervisor


@MODELS.register_module()
class MTEBarlowTwins(BaseMTESelfSupervisor):
    """Barlow Twins' redundancy-reduction loss per token slot
    (:class:`LatentCrossCorrelationSlotHead`: the cross-correlation of slot
    j's embeddings of the two views), both branches trained
    (:class:`SiameseTeacher`: the student itself, gradients through both, no
    second forward), and the distillation of the ensemble of slots (its
    mean embedding, detached) into the global token's embedding.

    Args:
        backbone (dict): A token backbone.
        neck (dict): A :class:`MultiTokenNeck` whose projector is
            mmpretrain's ``NonLinearNeck`` (``with_avg_pool=False``).
        head (dict): A :class:`LatentCrossCorrelationSlotHead` config.
        distill (dict, optional): An :class:`EnsembleDistillLoss` config.
        **kwargs: ``teacher`` (default: :class:`SiameseTeacher`),
            ``views`` (two views, each its own forward),
            ``data_preprocessor``, ``init_cfg`` and the other options of
            :class:`BaseMTESelfSupervisor`.
    """

    default_views = dict(num_views=2)
    fixed_views = ('num_views', )  # the cross-correlation of two views
    default_teacher = dict(type='SiameseTeacher')

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 distill: Optional[dict] = None, **kwargs):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         distill=distill, **kwargs)
