from .dino_loss import DINOLoss, cross_view_cross_entropy
from .ensemble_distill_loss import EnsembleDistillLoss

__all__ = ['DINOLoss', 'EnsembleDistillLoss', 'cross_view_cross_entropy']
