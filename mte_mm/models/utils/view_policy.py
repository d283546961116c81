"""Which views each part of a Multi-Token Enhancing step sees (MTE, arXiv
2411.15787), a registered part the algorithm's config names
(``model.views=dict(...)``, type ``ViewPolicy`` unless it says otherwise),
over the defaults the algorithm declares (:func:`build_view_policy`)."""
from typing import List, Optional, Sequence, Tuple

from torch import Tensor

from ...registry import MODELS

AUX_VIEWS = ('teacher', 'all')


@MODELS.register_module()
class ViewPolicy:
    """The views of one MTE step.

    Args:
        teacher_views (int, optional): The teacher sees the first
            ``teacher_views`` views (DINO's global crops: 2); None: every
            view (MoCo v3, BYOL, SimSiam, Barlow Twins). Defaults to None.
        aux_views (str): Views on which the auxiliary and pooled slots are
            trained: ``'all'`` (default) or ``'teacher'`` (the teacher's
            views; the other views pass only the global token through the
            projector, MTE-DINO's default for its local crops).
        share_forward (bool): Consecutive same-size views share one forward
            (DINO's crops). False: one forward per view, so batch statistics
            stay per view (MoCo v3, BYOL, as their official code). Defaults
            to False.
        num_views (int, optional): The exact number of views the method
            needs (2 for MoCo v3); None: at least ``teacher_views``.
    """

    def __init__(self, teacher_views: Optional[int] = None,
                 aux_views: str = 'all', share_forward: bool = False,
                 num_views: Optional[int] = None):
        if aux_views not in AUX_VIEWS:
            raise ValueError(f'model.views.aux_views must be one of {AUX_VIEWS}, '
                             f'got {aux_views!r}')
        for name, value in (('teacher_views', teacher_views),
                            ('num_views', num_views)):
            if value is not None and value < 1:
                raise ValueError(f'model.views.{name} must be >= 1 or None, got '
                                 f'{value}')
        if None not in (teacher_views, num_views) and \
                teacher_views > num_views:
            raise ValueError(f'model.views.teacher_views={teacher_views} > '
                             f'num_views={num_views}')
        self.teacher_views = teacher_views
        self.aux_views = aux_views
        self.share_forward = share_forward
        self.num_views = num_views

    def __repr__(self) -> str:
        return (f'ViewPolicy(teacher_views={self.teacher_views}, '
                f'aux_views={self.aux_views!r}, '
                f'share_forward={self.share_forward}, '
                f'num_views={self.num_views})')

    def check(self, inputs: List[Tensor], owner: str) -> None:
        """A clear error, naming ``owner``, for the wrong number of views."""
        least = self.num_views or self.teacher_views or 1
        ok = isinstance(inputs, (list, tuple)) and (
            len(inputs) == self.num_views if self.num_views
            else len(inputs) >= least)
        if not ok:
            count = len(inputs) if isinstance(inputs, (list, tuple)) else \
                type(inputs).__name__
            wanted = f'{self.num_views}' if self.num_views else f'>= {least}'
            raise ValueError(
                f'{owner} needs a list of {wanted} views, got {count} (use '
                'the MultiView transform)')

    def num_teacher_views(self, inputs: List[Tensor]) -> int:
        return len(inputs) if self.teacher_views is None else \
            self.teacher_views

    def global_only_from(self, inputs: List[Tensor],
                         num_slots: int) -> Optional[int]:
        """The first student view that gets the global slot only (None:
        every view gets every slot)."""
        if self.aux_views == 'all' or num_slots == 1:
            return None
        return self.num_teacher_views(inputs)

    def forwards(self, inputs: Sequence[Tensor], num_slots: int
                 ) -> List[Tuple[int, int, bool]]:
        """The forwards over ``inputs``, ``(start, end, global_only)`` each:
        with ``share_forward`` consecutive same-size views share one (DINO's
        global and local crops); without, every view is its own (MoCo v3:
        batch statistics per view, as the official code). Views from
        :meth:`global_only_from` on get the global slot only."""
        global_only_from = self.global_only_from(inputs, num_slots)
        forwards, start = [], 0
        while start < len(inputs):
            end = start + 1
            while self.share_forward and end < len(inputs) and \
                    inputs[end].shape == inputs[start].shape and \
                    end != global_only_from:
                end += 1
            forwards.append((start, end, global_only_from is not None and
                             start >= global_only_from))
            start = end
        return forwards


def build_view_policy(default: dict, views: Optional[dict] = None,
                      fixed: Sequence[str] = (), owner: str = 'model'):
    """The view policy of an algorithm: its ``default`` updated key by key
    with the config's ``views``. A key in ``fixed`` (one the method's step
    depends on, e.g. MoCo v3's two views) may be restated, not changed;
    errors name the config key and ``owner`` (the algorithm)."""
    views = dict(views or {})
    for key in fixed:
        if key in views and views[key] != default.get(key):
            raise ValueError(
                f'{owner}: model.views.{key}={views[key]!r}: this method '
                f'needs {key}={default.get(key)!r}')
    cfg = dict(dict(type='ViewPolicy'), **default)
    cfg.update(views)
    name = cfg.pop('type')
    # found in mte_mm's registry whatever the default scope (mmdet, mmseg)
    cls = MODELS.get(name) if isinstance(name, str) else name
    if not isinstance(cls, type):
        raise ValueError(f'{owner}: model.views.type={name!r} is not a '
                         'registered view policy')
    try:
        return cls(**cfg)
    except TypeError as exc:
        raise ValueError(f'{owner}: model.views: {exc}') from exc
