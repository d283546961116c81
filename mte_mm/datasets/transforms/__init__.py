from .ibot_masks import IBOTBlockMasks
from .loading import CheckedLoadImageFromFile, UnreadableImageError
from .multicrop import DecodeMultiCrop
from .photometric_params import (NUM_PARAMS, PARAM_INDEX, PARAM_NAMES,
                                 PhotometricRecipe)
from .seeding import SeedPerSample

__all__ = ['CheckedLoadImageFromFile', 'DecodeMultiCrop', 'IBOTBlockMasks',
           'NUM_PARAMS', 'PARAM_INDEX', 'PARAM_NAMES', 'PhotometricRecipe',
           'SeedPerSample', 'UnreadableImageError']
