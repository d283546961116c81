from .encoded_views import EncodedViews
from .mte_rng import mte_only_rng
from .slot_layout import AUXILIARY_KINDS, TOKEN_KINDS, SlotLayout
from .teachers import (EMATeacher, SiameseTeacher, StopGradTeacher,
                       build_teacher, teacher_class)
from .view_groups import ViewGroups
from .view_policy import ViewPolicy, build_view_policy

__all__ = ['AUXILIARY_KINDS', 'EMATeacher', 'EncodedViews', 'SiameseTeacher',
           'SlotLayout', 'StopGradTeacher', 'TOKEN_KINDS', 'ViewGroups',
           'ViewPolicy', 'build_teacher', 'build_view_policy',
           'mte_only_rng', 'teacher_class']
