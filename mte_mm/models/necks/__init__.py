from .concat_cls_neck import ConcatCLSNeck
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['ConcatCLSNeck', 'SimpleFeaturePyramid']
