from .dino_head import DINOHead
from .ibot_head import IBOTHead
from .mocov3_slot_head import MoCoV3SlotHead
from .slot_head import BaseSlotHead

__all__ = ['BaseSlotHead', 'DINOHead', 'IBOTHead', 'MoCoV3SlotHead']
