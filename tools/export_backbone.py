"""Export the backbone of an MTE (or DINO baseline) pretraining checkpoint as
(a) a plain ``mmpretrain.VisionTransformer`` checkpoint, usable as
``init_cfg=dict(type='Pretrained', checkpoint=...)`` by mmpretrain, mmdet and
mmseg configs, and (b) a timm ``VisionTransformer`` state dict. A
feature-map backbone (``FeatureMapTokenAdapter``: ConvNeXt, Swin) is written
as the plain mmpretrain backbone it wraps (``<name>_<source>_convnext_
mmpretrain.pth``). Auxiliary tokens, pooling and heads are dropped. Each
export is verified before it is written: on a random batch its outputs must
equal the MTE backbone's (atol 1e-5). Files are written atomically.

With ``--pooled`` (a ViT with pooled tokens) it also writes
``<name>_<source>_vit_pooled_mmpretrain.pth``: an ``AttentionPooledViT``
(``type='mte_mm.AttentionPooledViT'``) that keeps the neck's attention
pooling and returns the mean of the normalised pooled tokens as the image
feature, the kNN table's ``pooled`` row. This keeps an MTE part at
inference, unlike the paper's zero-cost export; its cost is measured by
``tools/benchmarks/pooled_feature_cost.py``.

    python tools/export_backbone.py CONFIG CHECKPOINT --out-dir DIR \\
        [--source teacher|student] [--name NAME] [--pooled]
"""
import argparse
import os.path as osp

import mte_mm  # noqa: F401  (compat shims + registries)
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from mte_mm.models import upgrade_legacy_state_dict
from mte_mm.models.layers.attention_pooling import AttentionPooling
from mte_mm.utils.atomic import atomic_torch_save
from mte_mm.models.backbones import (extract_backbone, extract_pooling,
                                     mmpretrain_vit_to_timm,
                                     plain_backbone_config,
                                     plain_backbone_state,
                                     pooled_image_feature)

MTE_ARGS = ('num_aux_tokens', 'aux_attention', 'norm_intermediate',
            'aux_init_std', 'use_mask_token', 'aux_patch_keep')
# MoCoV3ViT's training-only switches: the export is a plain ViT
TRAINING_ARGS = ('stop_grad_conv1', 'frozen_stages', 'norm_eval')
ATOL = 1e-5


def load_state_dict(path: str) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(f'no checkpoint at {path}')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as exc:
        raise ValueError(f'{path} is not a readable torch checkpoint: '
                         f'{type(exc).__name__}: {exc}') from exc
    if not isinstance(ckpt, dict) or not isinstance(
            ckpt.get('state_dict', ckpt), dict):
        raise ValueError(f'{path} holds no state dict')
    # MTEDINO checkpoints from before the MTE modules: today's key names
    return upgrade_legacy_state_dict(ckpt.get('state_dict', ckpt))


def plain_vit_cfg(backbone_cfg: dict) -> dict:
    """The ``mmpretrain.VisionTransformer`` config of an MTE backbone (a
    named arch becomes its dict: ``'mocov3-small'`` exists only once
    ``MoCoV3ViT`` was built)."""
    from mmpretrain.models import VisionTransformer
    cfg = {k: v for k, v in backbone_cfg.items()
           if k not in MTE_ARGS + TRAINING_ARGS +
           ('type', 'init_cfg', 'drop_path_rate')}
    if isinstance(cfg.get('arch'), str) and \
            cfg['arch'].lower() in VisionTransformer.arch_zoo:
        cfg['arch'] = dict(VisionTransformer.arch_zoo[cfg['arch'].lower()])
    return dict(cfg, type='mmpretrain.VisionTransformer')


def timm_vit(backbone_cfg: dict):
    """timm ``VisionTransformer`` with the same architecture."""
    from functools import partial

    from timm.models.vision_transformer import VisionTransformer
    arch = backbone_cfg['arch']
    if isinstance(arch, str):
        from mmpretrain.models import VisionTransformer as MMViT
        arch = MMViT.arch_zoo[arch.lower()]
    eps = backbone_cfg.get('norm_cfg', {}).get('eps', 1e-6)
    return VisionTransformer(
        img_size=backbone_cfg.get('img_size', 224),
        patch_size=backbone_cfg.get('patch_size', 16),
        embed_dim=arch['embed_dims'], depth=arch['num_layers'],
        num_heads=arch['num_heads'],
        mlp_ratio=arch['feedforward_channels'] / arch['embed_dims'],
        qkv_bias=backbone_cfg.get('qkv_bias', True),
        pre_norm=backbone_cfg.get('pre_norm', False),
        init_values=backbone_cfg.get('layer_scale_init_value') or None,
        num_classes=0, global_pool='token',
        norm_layer=partial(torch.nn.LayerNorm, eps=eps))


atomic_save = atomic_torch_save  # the name this tool's callers know


def check_close(name: str, got: torch.Tensor, want: torch.Tensor) -> None:
    err = (got - want).abs().max().item()
    if err > ATOL:
        raise RuntimeError(f'export verification failed: {name} differs from '
                           f'the MTE backbone by {err:.3g} (> {ATOL})')


def pooled_vit_cfg(backbone_cfg: dict, num_pooled_tokens: int) -> dict:
    """The ``AttentionPooledViT`` config of an MTE ViT backbone."""
    return dict(plain_vit_cfg(backbone_cfg), type='mte_mm.AttentionPooledViT',
                num_pooled_tokens=num_pooled_tokens, out_type='pooled')


def check_pooled_request(cfg: Config) -> int:
    """K of a model whose pooled feature can be exported, else a clear
    error (before any work)."""
    backbone_type = cfg.model.backbone['type'].split('.')[-1]
    if backbone_type == 'FeatureMapTokenAdapter':
        raise ValueError('--pooled: the pooled-feature export is for ViT '
                         'backbones; model.backbone is a '
                         'FeatureMapTokenAdapter')
    num_pooled = cfg.model.get('neck', {}).get('num_pooled_tokens', 0)
    if not num_pooled:
        raise ValueError('--pooled: the config has no pooled tokens '
                         f'(model.neck.num_pooled_tokens={num_pooled})')
    return num_pooled


@torch.no_grad()
def export(cfg: Config, checkpoint: str, out_dir: str, source: str = 'teacher',
           name: str = None, pooled: bool = False) -> dict:
    """Convert, verify, then write; returns the written paths (with
    ``pooled`` also ``pooled``: the :class:`AttentionPooledViT`)."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    num_pooled = check_pooled_request(cfg) if pooled else 0
    state_dict = load_state_dict(checkpoint)
    backbone_cfg = cfg.model.backbone.to_dict()
    name = name or osp.splitext(osp.basename(checkpoint))[0]
    if backbone_cfg['type'].split('.')[-1] == 'FeatureMapTokenAdapter':
        return export_feature_map(backbone_cfg, state_dict, checkpoint,
                                  out_dir, source, name)
    pooling_sd = extract_pooling(state_dict, source) if pooled else None
    mte = MODELS.build(backbone_cfg)
    mte.load_state_dict(extract_backbone(state_dict, source, keep_mte=True))
    mte.eval()
    plain_sd = extract_backbone(state_dict, source)
    plain = MODELS.build(dict(plain_vit_cfg(backbone_cfg), out_type='raw'))
    plain.load_state_dict(plain_sd)
    plain.eval()
    timm_sd = mmpretrain_vit_to_timm(plain_sd)
    timm_model = timm_vit(backbone_cfg)
    timm_model.load_state_dict(timm_sd)
    timm_model.eval()

    size = backbone_cfg.get('img_size', 224)
    images = torch.randn(2, 3, size, size, generator=torch.Generator()
                         .manual_seed(0))
    tokens = mte.forward_tokens(images)
    reference = torch.cat([tokens['x_norm_clstoken'][:, None],
                           tokens['x_norm_patchtokens']], dim=1)
    check_close('mmpretrain ViT', plain(images)[0], reference)
    check_close('timm ViT', timm_model.forward_features(images), reference)
    if pooled:
        pooled_cfg = pooled_vit_cfg(backbone_cfg, num_pooled)
        pooled_model = MODELS.build(pooled_cfg)
        pooled_sd = dict(plain_sd, **{f'pooling.{k}': v
                                      for k, v in pooling_sd.items()})
        pooled_model.load_state_dict(pooled_sd)  # strict: every key used
        pooled_model.eval()
        # reference: the MTE neck's pooling of the MTE backbone's tokens
        neck_pooling = AttentionPooling(pooled_model.embed_dims, num_pooled)
        neck_pooling.load_state_dict(pooling_sd)
        want = pooled_image_feature(
            neck_pooling(tokens['x_norm_patchtokens'])[0])
        check_close('AttentionPooledViT', pooled_model(images)[0], want)

    paths = dict(
        mmpretrain=osp.join(out_dir, f'{name}_{source}_vit_mmpretrain.pth'),
        timm=osp.join(out_dir, f'{name}_{source}_vit_timm.pth'))
    meta = dict(source_checkpoint=osp.abspath(checkpoint), source=source,
                backbone=plain_vit_cfg(backbone_cfg))
    atomic_save(dict(meta=meta, state_dict=plain_sd), paths['mmpretrain'])
    atomic_save(timm_sd, paths['timm'])
    if pooled:
        paths['pooled'] = osp.join(
            out_dir, f'{name}_{source}_vit_pooled_mmpretrain.pth')
        atomic_save(dict(meta=dict(meta, backbone=pooled_cfg),
                         state_dict=pooled_sd), paths['pooled'])
    return paths


def export_feature_map(backbone_cfg: dict, state_dict: dict,
                       checkpoint: str, out_dir: str, source: str,
                       name: str) -> dict:
    """The plain mmpretrain backbone inside a ``FeatureMapTokenAdapter``."""
    mte = MODELS.build(backbone_cfg)
    mte.load_state_dict(extract_backbone(state_dict, source, keep_mte=True))
    mte.eval()
    plain_cfg = plain_backbone_config(backbone_cfg)
    plain_sd = plain_backbone_state(mte.state_dict())
    plain = MODELS.build(plain_cfg)
    plain.load_state_dict(plain_sd)
    plain.eval()  # (mmpretrain's ConvNeXt.train returns None: no chaining)
    size = backbone_cfg['backbone'].get('img_size', 224)
    images = torch.randn(2, 3, size, size, generator=torch.Generator()
                         .manual_seed(0))
    for i, (got, want) in enumerate(zip(plain(images), mte(images))):
        check_close(f'{plain_cfg["type"]} output {i}', got, want)
    kind = plain_cfg['type'].split('.')[-1].lower()
    path = osp.join(out_dir, f'{name}_{source}_{kind}_mmpretrain.pth')
    meta = dict(source_checkpoint=osp.abspath(checkpoint), source=source,
                backbone=plain_cfg)
    atomic_save(dict(meta=meta, state_dict=plain_sd), path)
    return dict(mmpretrain=path)


def resolve_source(model_cfg: dict, source: str) -> str:
    """``'student'`` for the teacher of a model whose teacher is the student
    itself (``teacher=dict(type='StopGradTeacher')``: no copy in the
    checkpoint), else ``source``."""
    teacher = (model_cfg.get('teacher') or {}).get('type', '')
    if source == 'teacher' and teacher.split('.')[-1] == 'StopGradTeacher':
        return 'student'
    return source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('checkpoint', help='a checkpoint of that config')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--source', default='teacher',
                        choices=['teacher', 'student'])
    parser.add_argument('--name', help='file name stem (default: checkpoint)')
    parser.add_argument('--pooled', action='store_true',
                        help='also write an AttentionPooledViT whose image '
                        'feature is the mean of the normalised pooled tokens '
                        '(keeps the attention pooling at inference)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    source = resolve_source(cfg.model, args.source)
    if source != args.source:
        print('the model\'s teacher is the student (StopGradTeacher): '
              'exporting the student')
    paths = export(cfg, args.checkpoint, args.out_dir, source, args.name,
                   pooled=args.pooled)
    for kind, path in paths.items():
        print(f'{kind}: {path}')


if __name__ == '__main__':
    main()
