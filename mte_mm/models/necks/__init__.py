from .concat_cls_neck import ConcatCLSNeck
from .dino_projector import DINOProjector
from .ibot_projector import IBOTProjector
from .multi_token_neck import MultiTokenNeck
from .simple_feature_pyramid import SimpleFeaturePyramid
from .slotwise_projector import SlotwiseProjector

__all__ = ['ConcatCLSNeck', 'DINOProjector', 'IBOTProjector', 'MultiTokenNeck',
           'SimpleFeaturePyramid', 'SlotwiseProjector']
