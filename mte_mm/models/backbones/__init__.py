from .attention_pooled_vit import AttentionPooledViT, pooled_image_feature
from .convert import (extract_backbone, extract_pooling,
                      mmpretrain_vit_to_timm)
from .feature_map_adapter import (FeatureMapTokenAdapter,
                                  plain_backbone_config, plain_backbone_state)
from .mte_mocov3_vit import MTEMoCoV3ViT
from .mte_vit import MTEVisionTransformer
from .reduced_depth import reduced_depth
from .transfer_vit import TransferViT

__all__ = ['AttentionPooledViT', 'FeatureMapTokenAdapter', 'MTEMoCoV3ViT',
           'MTEVisionTransformer', 'TransferViT', 'extract_backbone',
           'extract_pooling', 'mmpretrain_vit_to_timm',
           'plain_backbone_config', 'plain_backbone_state',
           'pooled_image_feature', 'reduced_depth']
