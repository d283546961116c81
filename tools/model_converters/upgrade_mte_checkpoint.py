"""Convert a checkpoint of mte_mm 0.1.0 to today's layout (Multi-Token
Enhancing, arXiv 2411.15787), so that it resumes, exports and evaluates.

0.1.0's ``MTEDINO`` (up to commit e9fadf2) kept the pooling in the backbone,
DINO's projection MLP as ``head`` (``aux_head`` / ``pooled_head`` with
separate heads) and the centres as ``dino_loss.center``; later 0.1.0
checkpoints had the projectors in the neck but not yet inside
``SlotwiseProjector`` (no ``module.`` level). Today the pooling and the
projectors belong to the neck (``MultiTokenNeck``, each projector a
``SlotwiseProjector``), the centre to the head (``DINOSlotHead``).
Parameters keep their order, so the optimizer state resumes as it was;
everything but the state dict's names is copied unchanged.

    python tools/model_converters/upgrade_mte_checkpoint.py OLD.pth NEW.pth \\
        [--config CONFIG [--cfg-options k=v ...]]

With ``--config`` the converted names are checked against the model that
config builds (every key, no more, no less) before anything is written. The
output is written atomically.
"""
import argparse
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Mapping, Tuple

import mte_mm  # noqa: F401  (compat shims + registries)
import torch
from mmengine.config import Config, DictAction

from mte_mm.utils.atomic import atomic_torch_save

#: 0.1.0 (e9fadf2) name -> today's, the first pattern that matches
RENAMES: List[Tuple[re.Pattern, str]] = [
    (re.compile(r'^(teacher\.module\.)?backbone\.pooling\.'),
     r'\1neck.pooling.'),
    (re.compile(r'^(teacher\.module\.)?head\.'), r'\1neck.projector.'),
    (re.compile(r'^(teacher\.module\.)?aux_head\.'), r'\1neck.aux_projector.'),
    (re.compile(r'^(teacher\.module\.)?pooled_head\.'),
     r'\1neck.pooled_projector.'),
    (re.compile(r'^dino_loss\.'), 'head.'),
]
#: the modules that became SlotwiseProjectors: their weights one level down
WRAPPED = re.compile(r'^((?:teacher\.module\.)?neck\.(?:aux_|pooled_)?'
                     r'projector\.|head\.predictor\.)(?!module\.)')


def is_e9fadf2_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """A state dict of 0.1.0's first MTEDINO (it has ``dino_loss.*``)."""
    return any(key.startswith('dino_loss.') for key in state_dict)


def upgrade_state_dict(state_dict: Mapping[str, torch.Tensor]
                       ) -> Dict[str, torch.Tensor]:
    """The same tensors, in the same order, under today's names."""
    renames = RENAMES if is_e9fadf2_layout(state_dict) else []
    out = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in renames:
            key, hits = pattern.subn(replacement, key)
            if hits:
                break
        out[WRAPPED.sub(r'\1module.', key)] = value
    return out


def check_against_config(state_dict: Mapping[str, torch.Tensor], cfg: Config,
                         name: str) -> None:
    """SystemExit naming every key the model of ``cfg`` lacks or has more."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    expected = set(MODELS.build(cfg.model).state_dict())
    missing, unexpected = expected - set(state_dict), set(state_dict) - \
        expected
    if missing or unexpected:
        raise SystemExit(
            f'upgrade_mte_checkpoint: {name} does not convert to the model of '
            f'the config: missing {sorted(missing)[:8]}, unexpected '
            f'{sorted(unexpected)[:8]}' +
            (f' ({len(missing)} / {len(unexpected)} in all)'
             if max(len(missing), len(unexpected)) > 8 else ''))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='the 0.1.0 checkpoint')
    parser.add_argument('dst', help='where to write the converted one')
    parser.add_argument('--config', help='check the names against the model '
                        'this config builds')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides of --config')
    args = parser.parse_args(argv)
    if args.cfg_options and not args.config:
        parser.error('--cfg-options needs --config')
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=False)
    if not isinstance(checkpoint, dict):
        raise SystemExit(f'upgrade_mte_checkpoint: {args.src} holds a '
                         f'{type(checkpoint).__name__}, not a checkpoint')
    nested = 'state_dict' in checkpoint
    state_dict = upgrade_state_dict(checkpoint['state_dict'] if nested
                                    else checkpoint)
    if args.config:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        check_against_config(state_dict, cfg, args.src)
    out = dict(checkpoint, state_dict=state_dict) if nested else state_dict
    atomic_torch_save(out, args.dst)
    print(f'upgrade_mte_checkpoint: {len(state_dict)} tensors -> {args.dst}')


if __name__ == '__main__':
    sys.exit(main())
