from .convert import extract_backbone, mmpretrain_vit_to_timm
from .mte_mocov3_vit import MTEMoCoV3ViT
from .mte_vit import MTEVisionTransformer

__all__ = ['MTEMoCoV3ViT', 'MTEVisionTransformer', 'extract_backbone',
           'mmpretrain_vit_to_timm']
