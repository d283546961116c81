from .dino_loss import DINOLoss, cross_view_cross_entropy
from .ensemble_distill_loss import EnsembleDistillLoss
from .ibot_patch_loss import IBOTPatchLoss

__all__ = ['DINOLoss', 'EnsembleDistillLoss', 'IBOTPatchLoss',
           'cross_view_cross_entropy']
