from .dino_slot_head import DINOSlotHead
from .latent_slot_heads import (LatentCrossCorrelationSlotHead,
                                LatentPredictSlotHead)
from .mocov3_slot_head import MoCoV3SlotHead
from .slot_head import BaseSlotHead

__all__ = ['BaseSlotHead', 'DINOSlotHead',
           'LatentCrossCorrelationSlotHead', 'LatentPredictSlotHead',
           'MoCoV3SlotHead']
