"""What the forwards of one side (student or teacher) of a Multi-Token
Enhancing step made (MTE, arXiv 2411.15787), read by key and by view: the
step computes a view of any key (patch tokens, slot features) only where a
part asks for it."""
from typing import Dict, List, Mapping, Optional, Sequence

from torch import Tensor

from .view_groups import ViewGroups


class EncodedViews:
    """The outputs of the forwards over a list of views.

    Args:
        groups (Sequence[dict]): Per forward, in view order, the backbone's
            tokens and the neck's slots (:meth:`BaseMTESelfSupervisor.encode`):
            tensors ``(V_g * B, ...)`` with the ``V_g`` views of the forward
            stacked on the batch dimension, and non-tensor entries (e.g.
            ``patch_resolution``).
        batch (int): ``B``, images per view.
        view_kwargs (Mapping[str, Tensor], optional): The per-view keyword
            tensors ``(V_k, B, ...)`` the backbone was given for the first
            ``V_k`` views (iBOT's patch masks); empty by default.
    """

    def __init__(self, groups: Sequence[Dict], batch: int,
                 view_kwargs: Optional[Mapping[str, Tensor]] = None):
        self.groups: List[Dict] = list(groups)
        self.batch = batch
        self.view_kwargs = dict(view_kwargs or {})
        self.group_sizes = [self._rows(out) // batch for out in self.groups]

    @staticmethod
    def _rows(out: Dict) -> int:
        return next(value.shape[0] for value in out.values()
                    if isinstance(value, Tensor))

    def __repr__(self) -> str:
        return (f'EncodedViews(views={self.num_views}, batch={self.batch}, '
                f'groups={self.group_sizes})')

    @property
    def num_views(self) -> int:
        return sum(self.group_sizes)

    def views(self, key: str) -> ViewGroups:
        """``key`` as :class:`ViewGroups` of ``(V_g, B, ...)`` groups."""
        return ViewGroups([out[key].unflatten(0, (size, self.batch))
                           for out, size in zip(self.groups,
                                                self.group_sizes)])

    def first(self, num_views: int) -> 'EncodedViews':
        """The outputs of the first ``num_views`` views (all when they are
        all there: nothing is copied)."""
        if num_views >= self.num_views:
            return self
        groups, count = [], 0
        for out, size in zip(self.groups, self.group_sizes):
            if count >= num_views:
                break
            rows = min(size, num_views - count) * self.batch
            groups.append({key: value[:rows] if isinstance(value, Tensor)
                           else value for key, value in out.items()})
            count += size
        return EncodedViews(groups, self.batch, {
            key: value[:num_views] for key, value in
            self.view_kwargs.items()})

    def detach(self) -> 'EncodedViews':
        """The same outputs without their autograd history."""
        return EncodedViews(
            [{key: value.detach() if isinstance(value, Tensor) else value
              for key, value in out.items()} for out in self.groups],
            self.batch, self.view_kwargs)
