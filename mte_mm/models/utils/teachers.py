"""The teacher of an MTE self-supervisor (MTE, Li et al., arXiv 2411.15787),
a part the config names: an EMA copy of the student (DINO, iBOT, MoCo v3,
BYOL), the student itself under ``no_grad`` (SimSiam) or the student itself
with gradients through both branches (Barlow Twins).

All expose what the algorithms read: ``module`` (the teacher's ``backbone``
and ``neck``), ``update_parameters(student)`` (called right before the
teacher forward), ``is_copy`` and ``stop_grad``. The algorithm builds its
teacher from ``teacher=dict(type='EMATeacher' | 'StopGradTeacher' |
'SiameseTeacher', ...)`` with
:func:`build_teacher` (they are parts of the algorithm, built around its
student, so they are not in the registry)."""
from typing import Callable, Optional

from mmpretrain.models import CosineEMA
from torch import nn

TEACHERS = ('EMATeacher', 'StopGradTeacher', 'SiameseTeacher')


class EMATeacher(CosineEMA):
    """mmpretrain's ``CosineEMA`` of the student's backbone and neck: its
    ``momentum`` is the *student's* weight in the update, annealed by a
    cosine from ``momentum`` to ``end_momentum`` over training (DINO:
    0.004 -> 0, i.e. the teacher's 0.996 -> 1). It starts as a copy of the
    student, has no dropout or drop-path and gets no gradient; it keeps the
    run's train/eval mode, so BatchNorm in a projector uses batch
    statistics, as in DINO and MoCo. Its state is ``teacher.module.*`` and
    ``teacher.steps`` in checkpoints.

    Args:
        model (nn.Module): The student modules to copy.
        momentum (float): The student's weight at step 0.
        end_momentum (float): Its weight at the last step. Defaults to 0.
    """

    is_copy = True
    stop_grad = True

    def __init__(self, model: nn.Module, momentum: float = 0.004,
                 end_momentum: float = 0.0, **kwargs):
        super().__init__(model, momentum=momentum, end_momentum=end_momentum,
                         **kwargs)
        for module in self.module.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
            elif hasattr(module, 'drop_prob'):
                module.drop_prob = 0.0


class StopGradTeacher:
    """The student itself as the teacher, its outputs taken under
    ``no_grad`` (the stop-gradient branch of SimSiam, Chen & He, CVPR 2021):
    no copy, no parameters, no update, no entry in checkpoints; kNN, token
    maps and export of the "teacher" read the student. Not an
    ``nn.Module``, so the student's parameters are not registered twice.

    Args:
        student (Callable[[], nn.Module]): Returns the student's backbone and
            neck (an ``nn.ModuleDict``).
    """

    is_copy = False
    stop_grad = True

    def __init__(self, student: Callable[[], nn.Module]):
        self._student = student

    @property
    def module(self) -> nn.Module:
        return self._student()

    def update_parameters(self, model: nn.Module) -> None:
        """Nothing to update: the teacher is the student."""

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


class SiameseTeacher(StopGradTeacher):
    """The student itself on the target branch too, with gradients through
    both branches (Barlow Twins, Zbontar et al., ICML 2021: one network, a
    symmetric loss): the targets are the student's own outputs, not
    detached. No copy, no parameters, no second forward."""

    stop_grad = False


def build_teacher(cfg: Optional[dict], student: Callable[[], nn.Module]):
    """The teacher a config names (``type`` one of :data:`TEACHERS`, other
    keys its arguments)."""
    cfg = dict(cfg or dict(type='EMATeacher'))
    kind = cfg.pop('type', 'EMATeacher')
    if kind in ('EMATeacher', 'mte_mm.EMATeacher'):
        return EMATeacher(student(), **cfg)
    for cls in (StopGradTeacher, SiameseTeacher):
        if kind in (cls.__name__, f'mte_mm.{cls.__name__}'):
            if cfg:
                raise ValueError(f'{cls.__name__} takes no arguments, got '
                                 f'{sorted(cfg)}')
            return cls(student)
    raise ValueError(f'teacher type {kind!r}: choose from {TEACHERS}')
