"""Checkpoints of ``MTEDINO`` written before the MTE modules existed (up to
commit e9fadf2): the pooling lived in the backbone, DINO's projection MLP was
``head`` (``aux_head`` / ``pooled_head`` with separate heads) and the centres
were ``dino_loss.center``. Since then the pooling and projectors belong to
the neck (:class:`MultiTokenNeck`) and the centre to the head
(:class:`DINOLoss`). Parameters keep their order, so the optimizer state of
an old checkpoint resumes as it was."""
import re
from collections import OrderedDict
from typing import Dict, Mapping

from torch import Tensor

_RENAMES = [
    (re.compile(r'^(teacher\.module\.)?backbone\.pooling\.'),
     r'\1neck.pooling.'),
    (re.compile(r'^(teacher\.module\.)?head\.'), r'\1neck.projector.'),
    (re.compile(r'^(teacher\.module\.)?aux_head\.'), r'\1neck.aux_projector.'),
    (re.compile(r'^(teacher\.module\.)?pooled_head\.'),
     r'\1neck.pooled_projector.'),
    (re.compile(r'^dino_loss\.'), 'head.'),
]


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
