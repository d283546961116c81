from .mte_rng import mte_only_rng
from .slot_layout import AUXILIARY_KINDS, TOKEN_KINDS, SlotLayout

__all__ = ['AUXILIARY_KINDS', 'SlotLayout', 'TOKEN_KINDS', 'mte_only_rng']
