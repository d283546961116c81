from .dino_slot_head import DINOSlotHead, DINOSlotHead
from .mocov3_slot_head import MoCoV3SlotHead
from .slot_head import BaseSlotHead

__all__ = ['BaseSlotHead', 'DINOSlotHead', 'DINOSlotHead', 'MoCoV3SlotHead']
