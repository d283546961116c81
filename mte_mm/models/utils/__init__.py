from .mte_rng import mte_only_rng
from .slot_layout import AUXILIARY_KINDS, TOKEN_KINDS, SlotLayout
from .teachers import EMATeacher, StopGradTeacher, build_teacher

__all__ = ['AUXILIARY_KINDS', 'EMATeacher', 'SlotLayout', 'StopGradTeacher',
           'TOKEN_KINDS', 'build_teacher', 'mte_only_rng']
