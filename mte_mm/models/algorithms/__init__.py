from .base_mte import BaseMTESelfSupervisor
from .legacy import is_legacy_state_dict, upgrade_legacy_state_dict
from .mte_barlowtwins import MTEBarlowTwins
from .mte_byol import MTEBYOL
from .mte_dino import MTEDINO
from .mte_ibot import MTEiBOT
from .mte_mocov3 import MTEMoCoV3
from .mte_simsiam import MTESimSiam

__all__ = ['BaseMTESelfSupervisor', 'MTEBYOL', 'MTEBarlowTwins', 'MTEDINO',
           'MTESimSiam', 'MTEiBOT', 'MTEMoCoV3', 'is_legacy_state_dict',
           'upgrade_legacy_state_dict']
