from .concat_cls_neck import ConcatCLSNeck
from .multi_token_neck import MultiTokenNeck
from .simple_feature_pyramid import SimpleFeaturePyramid
from .slotwise_projector import SlotwiseProjector

__all__ = ['ConcatCLSNeck', 'MultiTokenNeck', 'SimpleFeaturePyramid',
           'SlotwiseProjector']
