from .ibot_masks import IBOTBlockMasks

__all__ = ['IBOTBlockMasks']
