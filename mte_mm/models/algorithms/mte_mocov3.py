"""Multi-Token Enhancing on MoCo v3 (MTE, Li et al., arXiv 2411.15787; MoCo
v3, Chen, Xie, He, ICCV 2021). With no auxiliary or pooled token and no
distillation this is exactly mmpretrain's ``MoCoV3``, our baseline."""
from typing import Optional

from ...registry import MODELS
from .base_mte import BaseMTESelfSupervisor


@MODELS.register_module()
class MTEMoCoV3(BaseMTESelfSupervisor):
    """Every token slot gets MoCo v3's symmetric InfoNCE
    (:class:`MoCoV3SlotHead`: query slot j of one view against the momentum
    keys of slot j of the other view, negatives from slot j only), and the
    global query also learns the momentum encoder's ensemble key
    ``norm(mean_{j in ensemble} norm(k_j))`` with the same loss
    (:class:`EnsembleDistillLoss`). See :class:`BaseMTESelfSupervisor` for
    the momentum encoder (the teacher), the slots and the logged losses.

    Batch statistics: each view is its own forward (as the official code and
    mmpretrain's ``MoCoV3``), and by default the neck's projector and the
    head's predictor run once per slot (``projector_call='per_slot'``): a
    single call on ``(B*S, C)`` would normalise every slot with statistics
    mixed over all slots, which changes even the global token's path, so
    the auxiliary slots would no longer be a pure addition to MoCo v3.

    Args:
        backbone (dict): An MTE ViT (:class:`MTEMoCoV3ViT` in the recipe).
        neck (dict): A :class:`MultiTokenNeck` whose projector is
            mmpretrain's ``NonLinearNeck`` (MoCo v3's 3-layer projector).
        head (dict): A :class:`MoCoV3SlotHead` config.
        distill (dict, optional): An :class:`EnsembleDistillLoss` config.
        **kwargs: ``teacher`` (default: an :class:`EMATeacher` whose
            ``momentum``, the student's weight at step 0, is 0.01: MoCo v3's
            0.99 -> 1 cosine), ``views`` (two views, each its own forward,
            both seen by the momentum encoder), ``base_momentum``,
            ``data_preprocessor``, ``init_cfg``.
    """

    default_views = dict(num_views=2)
    fixed_views = ('num_views', )  # the symmetric two-view InfoNCE
    default_teacher = dict(type='EMATeacher', momentum=0.01)

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 distill: Optional[dict] = None, **kwargs):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         distill=distill, **kwargs)
