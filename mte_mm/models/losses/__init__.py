from .dino_loss import DINOLoss, cross_view_cross_entropy

__all__ = ['DINOLoss', 'cross_view_cross_entropy']
