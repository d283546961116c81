from .ibot_masks import IBOTBlockMasks
from .loading import CheckedLoadImageFromFile, UnreadableImageError
from .seeding import SeedPerSample

__all__ = ['CheckedLoadImageFromFile', 'IBOTBlockMasks', 'SeedPerSample',
           'UnreadableImageError']
