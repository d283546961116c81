from .multicrop_preprocessor import MultiCropPhotometricPreprocessor

__all__ = ['MultiCropPhotometricPreprocessor']
