from .slot_layout import AUXILIARY_KINDS, TOKEN_KINDS, SlotLayout

__all__ = ['AUXILIARY_KINDS', 'SlotLayout', 'TOKEN_KINDS']
