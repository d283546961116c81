from .base_mte import BaseMTESelfSupervisor
from .legacy import is_legacy_state_dict, upgrade_legacy_state_dict
from .mte_dino import MTEDINO
from .mte_ibot import MTEiBOT
from .mte_mocov3 import MTEMoCoV3

__all__ = ['BaseMTESelfSupervisor', 'MTEDINO', 'MTEiBOT', 'MTEMoCoV3',
           'is_legacy_state_dict', 'upgrade_legacy_state_dict']
