"""The token-slot layout of Multi-Token Enhancing (MTE, arXiv 2411.15787):
the one place that knows the order of the slots ``[g, a_1..a_N, p_1..p_K]``.
Algorithms, the distillation loss, evaluation and visualisation read it from
the model (``model.layout``) instead of counting slots themselves."""
from typing import Dict, List, Sequence

import torch
from torch import Tensor

#: token kinds in slot order: the global token, auxiliary CLS tokens,
#: adaptively pooled tokens
TOKEN_KINDS = ('global', 'aux', 'pooled')
#: the kinds that can form the ensemble distilled into the global token
AUXILIARY_KINDS = ('aux', 'pooled')


class SlotLayout:
    """Slots ``[g, a_1..a_N, p_1..p_K]``, ``S = 1 + N + K``.

    Args:
        num_aux (int): N auxiliary CLS tokens (from the backbone).
        num_pooled (int): K pooled tokens (from the neck).
    """

    def __init__(self, num_aux: int, num_pooled: int):
        if num_aux < 0 or num_pooled < 0:
            raise ValueError('SlotLayout: token counts must be >= 0, got '
                             f'num_aux={num_aux}, num_pooled={num_pooled}')
        self.num_aux, self.num_pooled = num_aux, num_pooled
        self.num_slots = 1 + num_aux + num_pooled

    @classmethod
    def of(cls, aux: Tensor, pooled: Tensor) -> 'SlotLayout':
        """The layout of ``(B, N, ...)`` auxiliary and ``(B, K, ...)``
        pooled tensors."""
        return cls(aux.shape[1], pooled.shape[1])

    def __repr__(self) -> str:
        return (f'SlotLayout(num_aux={self.num_aux}, '
                f'num_pooled={self.num_pooled})')

    def count(self, kind: str) -> int:
        """Number of slots of ``kind``."""
        return {'global': 1, 'aux': self.num_aux,
                'pooled': self.num_pooled}[self._check(kind)]

    def slice(self, kind: str) -> slice:
        """The slots of one kind, as a slice of the slot dimension."""
        start = {'global': 0, 'aux': 1,
                 'pooled': 1 + self.num_aux}[self._check(kind)]
        return slice(start, start + self.count(kind))

    def indices(self, kinds: Sequence[str]) -> List[int]:
        """Slot indices of the given kinds, in slot order."""
        kinds = [self._check(kind) for kind in kinds]
        return [i for kind in TOKEN_KINDS if kind in kinds
                for i in range(self.num_slots)[self.slice(kind)]]

    @property
    def auxiliary(self) -> slice:
        """Every slot but the global one (the auxiliary and pooled kinds),
        as a slice of the slot dimension."""
        return slice(self.slice('aux').start, self.num_slots)

    @property
    def names(self) -> List[str]:
        """``['global', 'aux_0', ..., 'pooled_0', ...]``."""
        return ['global'] + [f'aux_{i}' for i in range(self.num_aux)] + \
            [f'pooled_{i}' for i in range(self.num_pooled)]

    def split(self, per_slot: Tensor) -> Dict[str, Tensor]:
        """Sum a per-slot vector ``(S,)`` over each present kind:
        ``{'global': .., 'aux': .., 'pooled': ..}`` (kinds with no slot are
        left out)."""
        if per_slot.shape[0] != self.num_slots:
            raise ValueError(f'{self}: expected {self.num_slots} slot values, '
                             f'got shape {tuple(per_slot.shape)}')
        return {kind: per_slot[self.slice(kind)].sum() for kind in TOKEN_KINDS
                if self.count(kind)}

    def stack(self, global_: Tensor, aux: Tensor, pooled: Tensor) -> Tensor:
        """The slots ``(B, S, ...)`` of ``(B, 1, ...)`` global, ``(B, N, ...)``
        auxiliary and ``(B, K, ...)`` pooled tensors (token features, their
        attention maps, ...): the one place that puts kinds in slot order."""
        parts = {'global': global_, 'aux': aux, 'pooled': pooled}
        counts = {name: part.shape[1] for name, part in parts.items()}
        if list(counts.values()) != [1, self.num_aux, self.num_pooled]:
            raise ValueError(f'{self}: cannot stack slot counts {counts}')
        return torch.cat(list(parts.values()), dim=1)

    def parts(self, slots: Tensor) -> Dict[str, Tensor]:
        """``(B, S, ...)`` slots -> ``{kind: (B, count, ...)}`` of each
        present kind, in slot order (the inverse of :meth:`stack`)."""
        if slots.shape[1] != self.num_slots:
            raise ValueError(f'{self}: expected {self.num_slots} slots, got '
                             f'shape {tuple(slots.shape)}')
        return {kind: slots[:, self.slice(kind)] for kind in TOKEN_KINDS
                if self.count(kind)}

    @staticmethod
    def _check(kind: str) -> str:
        if kind not in TOKEN_KINDS:
            raise ValueError(f'unknown token kind {kind!r}, choose from '
                             f'{TOKEN_KINDS}')
        return kind
