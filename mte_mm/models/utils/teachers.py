"""The teacher of an MTE self-supervisor (MTE, Li et al., arXiv 2411.15787),
a part the config names: an EMA copy of the student (DINO, iBOT, MoCo v3,
BYOL), the student itself under ``no_grad`` (SimSiam) or the student itself
with gradients through both branches (Barlow Twins).

A teacher is a registered part that a config names
(``model.teacher=dict(type='EMATeacher' | 'StopGradTeacher' |
'SiameseTeacher', ...)``), built by :func:`build_teacher` around the
algorithm's student (``student``: a callable that returns the student's
``backbone`` and ``neck``). Each exposes what the algorithms, export, kNN
and token maps read (:data:`TEACHER_CONTRACT`): ``module`` (the teacher's
``backbone`` and ``neck``), ``update_parameters(student)`` (called right
before the teacher forward), ``is_copy`` (whether it has parameters of its
own, saved in checkpoints as ``teacher.module.*``) and ``stop_grad``; and
``has_momentum``, whether the algorithm's ``base_momentum`` is its
``momentum``."""
from typing import Callable, Optional

from mmpretrain.models import CosineEMA
from torch import nn

from ...registry import MODELS

#: what an algorithm reads of any teacher
TEACHER_CONTRACT = ('module', 'update_parameters', 'is_copy', 'stop_grad')


@MODELS.register_module()
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
        student (Callable[[], nn.Module]): Returns the student modules to
            copy.
        momentum (float): The student's weight at step 0.
        end_momentum (float): Its weight at the last step. Defaults to 0.
        **kwargs: The other options of mmpretrain's ``CosineEMA``.
    """

    is_copy = True
    stop_grad = True
    has_momentum = True

    def __init__(self, student: Callable[[], nn.Module],
                 momentum: float = 0.004, end_momentum: float = 0.0,
                 **kwargs):
        super().__init__(student(), momentum=momentum,
                         end_momentum=end_momentum, **kwargs)
        for module in self.module.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
            elif hasattr(module, 'drop_prob'):
                module.drop_prob = 0.0


@MODELS.register_module()
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
    has_momentum = False

    def __init__(self, student: Callable[[], nn.Module]):
        self._student = student

    @property
    def module(self) -> nn.Module:
        return self._student()

    def update_parameters(self, model: nn.Module) -> None:
        """Nothing to update: the teacher is the student."""

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


@MODELS.register_module()
class SiameseTeacher(StopGradTeacher):
    """The student itself on the target branch too, with gradients through
    both branches (Barlow Twins, Zbontar et al., ICML 2021: one network, a
    symmetric loss): the targets are the student's own outputs, not
    detached. No copy, no parameters, no second forward."""

    stop_grad = False


def teacher_class(cfg: dict, key: str = 'model.teacher') -> type:
    """The registered class that ``cfg['type']`` names; a clear error,
    naming ``key``, for a name that is not a registered teacher."""
    name = cfg.get('type')
    cls = MODELS.get(name) if isinstance(name, str) else name
    if not isinstance(cls, type) or not all(
            hasattr(cls, attr) for attr in TEACHER_CONTRACT[2:]):
        teachers = sorted(
            n for n, c in MODELS.module_dict.items()
            if all(hasattr(c, attr) for attr in TEACHER_CONTRACT[2:]))
        raise ValueError(f'{key}.type={name!r} is not a registered teacher: '
                         f'choose from {teachers}')
    return cls


def build_teacher(cfg: dict, student: Callable[[], nn.Module],
                  key: str = 'model.teacher'):
    """The teacher ``cfg`` names, built around ``student``; errors name
    ``key`` (the config key it came from)."""
    cls = teacher_class(cfg, key)
    args = {k: v for k, v in cfg.items() if k != 'type'}
    try:
        teacher = cls(student, **args)
    except TypeError as exc:
        raise ValueError(f'{key}: {cls.__name__} {exc}') from exc
    missing = [attr for attr in TEACHER_CONTRACT if not hasattr(teacher, attr)]
    if missing:
        raise ValueError(f'{key}.type={cfg["type"]!r}: a teacher needs '
                         f'{missing}')
    return teacher


def resolve_teacher_config(default: dict, teacher: Optional[dict],
                           base_momentum: Optional[float]) -> dict:
    """The teacher config of an algorithm: its ``default`` updated key by key
    with the config's ``teacher`` when that names the same type (or none),
    else the config's; ``base_momentum`` (mmpretrain's name) becomes the
    ``momentum`` of a teacher that has one (:attr:`has_momentum`)."""
    teacher = dict(teacher or {})
    if teacher.get('type', default['type']) == default['type']:
        cfg = dict(default, **teacher)
    else:
        cfg = teacher
    if base_momentum is not None and teacher_class(cfg).has_momentum:
        if 'momentum' in teacher:
            raise ValueError(
                f'model.base_momentum={base_momentum} and model.teacher.'
                f'momentum={teacher["momentum"]}: set one of them')
        cfg['momentum'] = base_momentum
    return cfg
