from .dino_head import DINOHead
from .mocov3_slot_head import MoCoV3SlotHead
from .slot_head import BaseSlotHead

__all__ = ['BaseSlotHead', 'DINOHead', 'MoCoV3SlotHead']
