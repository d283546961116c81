from .mte_vit import MTEVisionTransformer

__all__ = ['MTEVisionTransformer']
