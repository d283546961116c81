from .base_mte import BaseMTESelfSupervisor
from .mte_barlowtwins import MTEBarlowTwins
from .mte_byol import MTEBYOL
from .mte_dino import MTEDINO
from .mte_ibot import MTEiBOT
from .mte_mocov3 import MTEMoCoV3
from .mte_simsiam import MTESimSiam

__all__ = ['BaseMTESelfSupervisor', 'MTEBYOL', 'MTEBarlowTwins', 'MTEDINO',
           'MTESimSiam', 'MTEiBOT', 'MTEMoCoV3']
