from .mte_rng import mte_only_rng
from .slot_layout import AUXILIARY_KINDS, TOKEN_KINDS, SlotLayout
from .teachers import (EMATeacher, SiameseTeacher, StopGradTeacher,
                       build_teacher)
from .view_groups import ViewGroups
from .view_policy import ViewPolicy

__all__ = ['AUXILIARY_KINDS', 'EMATeacher', 'SiameseTeacher', 'SlotLayout',
           'StopGradTeacher',
           'TOKEN_KINDS', 'ViewGroups', 'ViewPolicy', 'build_teacher',
           'mte_only_rng']
