from .digits import DigitsDataset
from .image_check import decode_image, jpeg_truncated
from .samplers import ResumableSeededSampler, SeededIndex, stream_seed
from .transforms import (CheckedLoadImageFromFile, IBOTBlockMasks,
                         SeedPerSample, UnreadableImageError)

__all__ = ['CheckedLoadImageFromFile', 'DigitsDataset', 'IBOTBlockMasks',
           'ResumableSeededSampler', 'SeedPerSample', 'SeededIndex',
           'UnreadableImageError', 'decode_image', 'jpeg_truncated',
           'stream_seed']
