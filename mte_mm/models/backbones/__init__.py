from .convert import extract_backbone, mmpretrain_vit_to_timm
from .mte_vit import MTEVisionTransformer

__all__ = ['MTEVisionTransformer', 'extract_backbone', 'mmpretrain_vit_to_timm']
