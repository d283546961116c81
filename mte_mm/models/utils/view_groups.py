"""The one input type of slot heads in Multi-Token Enhancing (MTE, arXiv
2411.15787): the student's per-view outputs, whatever forwards made them.

An MTE step may run several same-size views in one forward (DINO's local
crops) and may give some views the global slot only (DINO's local crops with
``aux_views='teacher'``). :class:`ViewGroups` hides both: a head reads views
(:meth:`cat`, :meth:`split`, :meth:`first`, :meth:`sum`) and slots
(:meth:`slots`), never the forwards.
"""
from typing import Callable, List, Sequence, Union

import torch
from torch import Tensor


class ViewGroups:
    """Per-view tensors ``(B, S_v, D)`` of ``V`` views in view order, held as
    the groups ``(V_g, B, S_g, D)`` that shared one forward. Views with fewer
    slots (the global slot only) come after the views with all of them.

    Args:
        groups (Sequence[Tensor]): ``(V_g, B, S_g, ...)`` tensors in view
            order.
    """

    def __init__(self, groups: Sequence[Tensor]):
        groups = tuple(groups)
        if not groups:
            raise ValueError('ViewGroups: no views')
        for earlier, later in zip(groups, groups[1:]):
            if later.shape[2] > earlier.shape[2]:
                raise ValueError(
                    'ViewGroups: views with fewer slots must come last, got '
                    f'{earlier.shape[2]} then {later.shape[2]} slots')
        self.groups = groups

    @classmethod
    def of(cls, views: Union['ViewGroups', Tensor, Sequence[Tensor]]
           ) -> 'ViewGroups':
        """``views`` as ViewGroups (a tensor ``(V, B, S, D)`` is one
        group)."""
        if isinstance(views, ViewGroups):
            return views
        return cls([views] if torch.is_tensor(views) else views)

    def __repr__(self) -> str:
        shapes = ', '.join(str(tuple(g.shape)) for g in self.groups)
        return f'ViewGroups({shapes})'

    @property
    def num_views(self) -> int:
        return sum(group.shape[0] for group in self.groups)

    @property
    def num_slots(self) -> int:
        """Slots of the first (fullest) views."""
        return self.groups[0].shape[2]

    def cat(self) -> Tensor:
        """All views ``(V, B, S, D)``; every view must have every slot."""
        if any(g.shape[2] != self.num_slots for g in self.groups):
            raise ValueError(f'ViewGroups.cat: views of different slot '
                             f'counts {[g.shape[2] for g in self.groups]}; '
                             'select common slots with slots() first')
        return self.groups[0] if len(self.groups) == 1 else \
            torch.cat(self.groups)

    def split(self) -> List[Tensor]:
        """One ``(B, S_v, D)`` tensor per view."""
        return [view for group in self.groups for view in group.unbind(0)]

    def first(self, num_views: int) -> Tensor:
        """The first ``num_views`` views ``(num_views, B, S, D)``."""
        taken, count = [], 0
        for group in self.groups:
            if count >= num_views:
                break
            taken.append(group[:num_views - count])
            count += taken[-1].shape[0]
        if count < num_views:
            raise ValueError(f'ViewGroups.first: {num_views} views asked, '
                             f'{count} held')
        return ViewGroups(taken).cat()

    def sum(self) -> Tensor:
        """The sum over views ``(B, S, D)`` (every view has every slot)."""
        return sum(group.sum(0) for group in self.groups)

    def slots(self, index: slice) -> 'ViewGroups':
        """The slots ``index`` of the views that have them all (views with
        fewer slots are left out; they are the last views, so view indices
        are unchanged)."""
        if index.step not in (None, 1):
            raise ValueError('ViewGroups.slots: a slice of step 1 expected')
        start, stop, _ = index.indices(self.num_slots)
        kept = [g[:, :, start:stop] for g in self.groups
                if g.shape[2] >= stop] if start < stop else []
        if not kept:
            raise ValueError(f'ViewGroups.slots: no view has slots {index}')
        return ViewGroups(kept)

    def map(self, fn: Callable[[Tensor], Tensor]) -> 'ViewGroups':
        """``fn`` applied to every group (an elementwise or per-view map)."""
        return ViewGroups([fn(group) for group in self.groups])

    def like(self, views: Tensor) -> 'ViewGroups':
        """``(V, B, S, D')`` views (e.g. ``fn(self.cat())``) split into
        this object's groups."""
        return ViewGroups(views.split([g.shape[0] for g in self.groups]))
