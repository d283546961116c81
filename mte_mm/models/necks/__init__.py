from .concat_cls_neck import ConcatCLSNeck

__all__ = ['ConcatCLSNeck']
