from .dino_loss import cross_view_cross_entropy
from .ensemble_distill_loss import EnsembleDistillLoss
from .ibot_patch_loss import IBOTPatchLoss

__all__ = ['EnsembleDistillLoss', 'IBOTPatchLoss', 'cross_view_cross_entropy']
