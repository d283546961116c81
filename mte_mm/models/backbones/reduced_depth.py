"""Shallow versions of a backbone config: the same widths, heads, patch and
window sizes with fewer blocks, for quick checks of a pretraining config
(``tools/check_gpu.py`` and the every-config test) that build and train it
without its full cost.

Each mmpretrain backbone names its architectures in its own table, which is
asked here rather than repeated: ``arch_zoo`` (``VisionTransformer``,
``SwinTransformer``, with ``num_layers`` / ``depths``), ``arch_settings``
(``ConvNeXt``: ``depths``; the ResNet family: ``{depth: (block,
stage_blocks)}``). A backbone with none of them, or an architecture it does
not name, is an error that names both, so a config with a new backbone
cannot pass a check unreduced by accident.
"""
import copy
from typing import Optional

from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

#: arch keys that count blocks: one number (ViT) or one per stage
_BLOCK_KEYS = ('num_layers', 'depths')
#: wrappers whose ``backbone`` key holds the backbone to reduce
_WRAPPER_KEY = 'backbone'


def _backbone_class(type_name):
    cls = type_name if isinstance(type_name, type) else \
        MMPRETRAIN_MODELS.get(type_name)
    if cls is None:
        raise KeyError(f'reduced_depth: no backbone class {type_name!r} in '
                       'the mmpretrain registry (is its package imported?)')
    return cls


def _arch_table(cls) -> Optional[dict]:
    for name in ('arch_zoo', 'arch_settings'):
        table = getattr(cls, name, None)
        if isinstance(table, dict):
            return table
    return None


def _named_arch(cls, table, arch):
    for key in (arch, arch.lower()):
        if key in table:
            return dict(table[key])
    raise KeyError(f'reduced_depth: {cls.__name__} names no architecture '
                   f'{arch!r} (its archs: {sorted(table)}); give `arch` as '
                   'a dict')


def reduced_depth(backbone: dict, num_blocks: int) -> dict:
    """A copy of ``backbone`` with at most ``num_blocks`` blocks in every
    stage (a ViT: in all), everything else as configured.

    A wrapper with a ``backbone`` key (:class:`FeatureMapTokenAdapter`) is
    reduced inside. The ResNet family keeps its depth: its table is keyed
    by depth, and every shallower ResNet has another output width (the
    neck's ``in_channels`` would no longer fit).

    Args:
        backbone (dict): A backbone config.
        num_blocks (int): Blocks per stage, >= 1.

    Returns:
        dict: The reduced config (``backbone`` is not changed).

    Raises:
        KeyError: The backbone type is not registered, or its ``arch`` is a
            name its class does not know.
        TypeError: The class has no architecture table this function
            knows how to reduce.
    """
    if num_blocks < 1:
        raise ValueError(f'reduced_depth: num_blocks must be >= 1, got '
                         f'{num_blocks}')
    backbone = copy.deepcopy(backbone)
    inner = backbone.get(_WRAPPER_KEY)
    if isinstance(inner, dict):
        backbone[_WRAPPER_KEY] = reduced_depth(inner, num_blocks)
        return backbone
    cls = _backbone_class(backbone['type'])
    table = _arch_table(cls)
    if table is None:
        raise TypeError(f'reduced_depth: {cls.__name__} has no arch_zoo or '
                        'arch_settings to reduce; add its case to '
                        'mte_mm/models/backbones/reduced_depth.py')
    first = next(iter(table.values()))
    if isinstance(first, tuple) and 'depth' in backbone:
        return backbone  # the ResNet family: see the docstring
    arch = backbone.get('arch', None)
    if arch is None:
        raise KeyError(f'reduced_depth: the {cls.__name__} config has no '
                       '`arch`')
    arch = dict(arch) if isinstance(arch, dict) else \
        _named_arch(cls, table, arch)
    keys = [key for key in _BLOCK_KEYS if key in arch]
    if not keys:
        raise TypeError(f'reduced_depth: {cls.__name__} arch {arch} has '
                        f'none of {_BLOCK_KEYS}')
    for key in keys:
        depth = arch[key]
        arch[key] = [min(d, num_blocks) for d in depth] \
            if isinstance(depth, (list, tuple)) else min(depth, num_blocks)
    backbone['arch'] = arch
    return backbone
