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

from mte_mm.models.layers.attention_pooling import AttentionPooling
from mte_mm.models.backbones import (extract_backbone, extract_pooling,
                                     pooled_image_feature)
from mte_mm.models.utils.teachers import teacher_class
from mte_mm.utils.atomic import atomic_torch_save

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
    return ckpt.get('state_dict', ckpt)


atomic_save = atomic_torch_save  # the name this tool's callers know


def check_errors(errors: dict) -> None:
    """Raise naming the first exported output that differs from the MTE
    backbone's by more than ``ATOL``."""
    for name, err in errors.items():
        if not err <= ATOL:
            raise RuntimeError(f'export verification failed: {name} differs '
                               f'from the MTE backbone by {err:.3g} '
                               f'(> {ATOL})')


def pooled_vit_cfg(plain_cfg: dict, num_pooled_tokens: int) -> dict:
    """The ``AttentionPooledViT`` config of an exported plain ViT config."""
    return dict(plain_cfg, type='mte_mm.AttentionPooledViT',
                num_pooled_tokens=num_pooled_tokens, out_type='pooled')


def check_pooled_request(cfg: Config) -> int:
    """K of a model whose pooled feature can be exported, else a clear
    error (before any work)."""
    backbone_type = cfg.model.backbone['type']
    if not getattr(MODELS.get(backbone_type), 'supports_pooled_export',
                   False):
        raise ValueError('--pooled: the pooled-feature export is for ViT '
                         f'backbones; model.backbone is a {backbone_type}')
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
    pooling_sd = extract_pooling(state_dict, source) if pooled else None
    # the backbone converts itself (export_config / export_state_dict) and
    # says how its export must match it (export_errors)
    mte = MODELS.build(backbone_cfg)
    mte.load_state_dict(extract_backbone(state_dict, source, keep_mte=True))
    mte.eval()
    plain_cfg = mte.export_config(backbone_cfg)
    plain_sd = mte.export_state_dict()
    plain = MODELS.build(plain_cfg)
    plain.load_state_dict(plain_sd)  # strict: every key used
    plain.eval()
    images = verification_images(backbone_cfg)
    check_errors(mte.export_errors(plain, images))
    stem = osp.join(out_dir, f'{name}_{source}_{mte.export_kind}')
    paths = dict(mmpretrain=f'{stem}_mmpretrain.pth')
    meta = dict(source_checkpoint=osp.abspath(checkpoint), source=source,
                backbone=plain_cfg)
    files = {paths['mmpretrain']: dict(meta=meta, state_dict=plain_sd)}
    if hasattr(mte, 'export_timm'):
        timm_sd, err = mte.export_timm(backbone_cfg, images)
        check_errors({'timm ViT': err})
        paths['timm'] = f'{stem}_timm.pth'
        files[paths['timm']] = timm_sd
    if pooled:
        pooled_cfg = pooled_vit_cfg(plain_cfg, num_pooled)
        pooled_model = MODELS.build(pooled_cfg)
        pooled_sd = dict(plain_sd, **{f'pooling.{k}': v
                                      for k, v in pooling_sd.items()})
        pooled_model.load_state_dict(pooled_sd)  # strict: every key used
        pooled_model.eval()
        # reference: the MTE neck's pooling of the MTE backbone's tokens
        neck_pooling = AttentionPooling(pooled_model.embed_dims, num_pooled)
        neck_pooling.load_state_dict(pooling_sd)
        want = pooled_image_feature(neck_pooling(
            mte.forward_tokens(images)['x_norm_patchtokens'])[0])
        check_errors({'AttentionPooledViT': (
            pooled_model(images)[0] - want).abs().max().item()})
        paths['pooled'] = f'{stem}_pooled_mmpretrain.pth'
        files[paths['pooled']] = dict(meta=dict(meta, backbone=pooled_cfg),
                                      state_dict=pooled_sd)
    # written only once every export is verified
    for path, obj in files.items():
        atomic_save(obj, path)
    return paths


def verification_images(backbone_cfg: dict) -> torch.Tensor:
    """A fixed random batch at the backbone's image size."""
    size = backbone_cfg.get('img_size') or backbone_cfg.get(
        'backbone', {}).get('img_size', 224)
    return torch.randn(2, 3, size, size,
                       generator=torch.Generator().manual_seed(0))


def resolve_source(model_cfg: dict, source: str) -> str:
    """``'student'`` for the teacher of a model whose teacher has no copy of
    its own (``is_copy`` False: the student itself, e.g. ``StopGradTeacher``
    or ``MTESimSiam``'s default; nothing of it in the checkpoint), else
    ``source``. The teacher is the one the config names, or the algorithm's
    default."""
    if source != 'teacher':
        return source
    algorithm = MODELS.get(model_cfg.get('type', '')) \
        if model_cfg.get('type') else None
    default = getattr(algorithm, 'default_teacher', None) or dict(
        type='EMATeacher')
    teacher = dict(default, **(model_cfg.get('teacher') or {}))
    return 'teacher' if teacher_class(teacher).is_copy else 'student'


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
        print('the model\'s teacher is the student itself: exporting the '
              'student')
    paths = export(cfg, args.checkpoint, args.out_dir, source, args.name,
                   pooled=args.pooled)
    for kind, path in paths.items():
        print(f'{kind}: {path}')


if __name__ == '__main__':
    main()
