from .digits import DigitsDataset
from .transforms import IBOTBlockMasks

__all__ = ['DigitsDataset', 'IBOTBlockMasks']
