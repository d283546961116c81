"""Checkpoint conversion beside the model (timm style): MTE / DINO
pretraining checkpoints -> plain ``mmpretrain.VisionTransformer`` and timm
``VisionTransformer`` state dicts. Auxiliary tokens, pooling and heads are
dropped: with one-way attention the exported ViT computes exactly the MTE
model's global and patch tokens (MTE, arXiv 2411.15787)."""
import re
from collections import OrderedDict
from typing import Dict, Mapping

from torch import Tensor

SOURCE_PREFIXES = {'teacher': 'teacher.module.backbone.',
                   'student': 'backbone.'}
MTE_ONLY_KEYS = re.compile(r'^(aux_tokens$|mask_token$|pooling\.)')


def extract_backbone(state_dict: Mapping[str, Tensor],
                     source: str = 'teacher',
                     keep_mte: bool = False) -> Dict[str, Tensor]:
    """The plain-ViT weights of the teacher's or the student's backbone
    (with ``keep_mte`` also its auxiliary tokens and pooling).

    Raises:
        KeyError: naming the prefix looked for when the checkpoint has none.
    """
    if source not in SOURCE_PREFIXES:
        raise ValueError(f"source must be one of {list(SOURCE_PREFIXES)}, "
                         f'got {source!r}')
    prefix = SOURCE_PREFIXES[source]
    backbone = OrderedDict(
        (key[len(prefix):], value) for key, value in state_dict.items()
        if key.startswith(prefix))
    if not backbone:
        raise KeyError(f'no {source} backbone weights (keys starting with '
                       f'{prefix!r}) in the checkpoint; it has e.g. '
                       f'{list(state_dict)[:5]}')
    return OrderedDict((k, v) for k, v in backbone.items()
                       if keep_mte or not MTE_ONLY_KEYS.match(k))


def extract_pooling(state_dict: Mapping[str, Tensor],
                    source: str = 'teacher') -> Dict[str, Tensor]:
    """The neck's :class:`AttentionPooling` weights of the teacher or the
    student, keyed as the module holds them (``queries``, ``key.weight``).

    Raises:
        KeyError: when the checkpoint has no pooling (K = 0).
    """
    backbone_prefix = SOURCE_PREFIXES[source]
    prefix = backbone_prefix[:-len('backbone.')] + 'neck.pooling.'
    pooling = OrderedDict(
        (key[len(prefix):], value)
        for key, value in state_dict.items() if key.startswith(prefix))
    if not pooling:
        raise KeyError(f'no {source} pooling weights (keys starting with '
                       f'{prefix!r}) in the checkpoint: was it trained with '
                       'model.neck.num_pooled_tokens > 0?')
    return pooling


_TIMM_RENAMES = [
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
    (r'^pre_norm\.', 'norm_pre.'),
]


def mmpretrain_vit_to_timm(state_dict: Mapping[str, Tensor]
                           ) -> Dict[str, Tensor]:
    """Rename a plain ``mmpretrain.VisionTransformer`` state dict to timm's
    ``VisionTransformer`` names (class token, learned position embedding,
    pre-LN blocks, final norm)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        new = key
        for pattern, repl in _TIMM_RENAMES:
            new, hits = re.subn(pattern, repl, new)
            if hits:
                break
        else:
            if key not in ('cls_token', 'pos_embed'):
                raise KeyError(f'no timm name for mmpretrain ViT key {key!r}')
        out[new] = value
    return out


def timm_vit(plain_cfg: Mapping):
    """A timm ``VisionTransformer`` of the architecture of a plain
    ``mmpretrain.VisionTransformer`` config (arch given as a dict)."""
    from functools import partial

    import torch
    from timm.models.vision_transformer import VisionTransformer
    arch = plain_cfg['arch']
    if isinstance(arch, str):
        from mmpretrain.models import VisionTransformer as MMViT
        arch = MMViT.arch_zoo[arch.lower()]
    eps = plain_cfg.get('norm_cfg', {}).get('eps', 1e-6)
    return VisionTransformer(
        img_size=plain_cfg.get('img_size', 224),
        patch_size=plain_cfg.get('patch_size', 16),
        embed_dim=arch['embed_dims'], depth=arch['num_layers'],
        num_heads=arch['num_heads'],
        mlp_ratio=arch['feedforward_channels'] / arch['embed_dims'],
        qkv_bias=plain_cfg.get('qkv_bias', True),
        pre_norm=plain_cfg.get('pre_norm', False),
        init_values=plain_cfg.get('layer_scale_init_value') or None,
        num_classes=0, global_pool='token',
        norm_layer=partial(torch.nn.LayerNorm, eps=eps))
