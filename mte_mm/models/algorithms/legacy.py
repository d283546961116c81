"""Checkpoints of ``MTEDINO`` written before the MTE modules existed (up to
commit e9fadf2): the pooling lived in the backbone, DINO's projection MLP was
``head`` (``aux_head`` / ``pooled_head`` with separate heads) and the centres
were ``dino_loss.center``. Since then the pooling and projectors belong to
the neck (:class:`MultiTokenNeck`) and the centre to the head
(:class:`DINOSlotHead`). Parameters keep their order, so the optimizer state of
an old checkpoint resumes as it was."""
import re
from collections import OrderedDict
from typing import Dict, Mapping

from torch import Tensor

_RENAMES = [
    (re.compile(r'^(teacher\.module\.)?backbone\.pooling\.'),
     r'\1neck.pooling.'),
    (re.compile(r'^(teacher\.module\.)?head\.'), r'\1neck.projector.module.'),
    (re.compile(r'^(teacher\.module\.)?aux_head\.'),
     r'\1neck.aux_projector.module.'),
    (re.compile(r'^(teacher\.module\.)?pooled_head\.'),
     r'\1neck.pooled_projector.module.'),
    (re.compile(r'^dino_loss\.'), 'head.'),
]


# MTEDINO arguments of that layout -> where they live now
_MOVED_ARGS = {
    'loss': "model.head (the DINOSlotHead config)",
    'distill_weight': "model.distill=dict(type='EnsembleDistillLoss', "
                      'loss_weight=...) (None: no distillation)',
    'distill_from': "model.distill=dict(type='EnsembleDistillLoss', "
                    'ensemble=...)',
    'separate_heads': 'model.neck.separate_projectors',
}


def check_moved_args(owner: str, kwargs: dict) -> None:
    """Name the new home of arguments of the old layout, before a bare
    'unexpected keyword argument' would."""
    moved = [f'{key} -> {_MOVED_ARGS[key]}' for key in kwargs
             if key in _MOVED_ARGS]
    if moved:
        raise TypeError(f'{owner}: arguments of the layout before the MTE '
                        'modules (README, "MTE as modules"): ' +
                        '; '.join(moved))


def is_legacy_state_dict(state_dict: Mapping[str, Tensor]) -> bool:
    """An old-layout MTEDINO state dict (it has ``dino_loss.*`` keys)."""
    return any(key.startswith('dino_loss.') for key in state_dict)


def upgrade_legacy_state_dict(state_dict: Mapping[str, Tensor]
                              ) -> Dict[str, Tensor]:
    """The same weights under today's names (unchanged if not legacy)."""
    if not is_legacy_state_dict(state_dict):
        return state_dict
    out = OrderedDict()
    for key, value in state_dict.items():
        for pattern, repl in _RENAMES:
            key, hits = pattern.subn(repl, key)
            if hits:
                break
        out[key] = value
    return out
