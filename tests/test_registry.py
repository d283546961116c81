"""`import mte_mm` registers our modules; a config's custom_imports is enough."""
import subprocess
import sys

import pytest
import torch

from .conftest import REPO


def test_custom_imports_config_builds_registered_module(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mte_mm'], allow_failed_imports=False)\n"
        "dataset = dict(type='DigitsDataset', split='test', image_size=16,\n"
        "               pipeline=[dict(type='PackInputs')])\n")
    code = f"""
from mmengine.config import Config
from mmpretrain.registry import DATASETS
cfg = Config.fromfile({str(cfg)!r})
ds = DATASETS.build(cfg.dataset)
print(type(ds).__module__, len(ds), ds[0]['inputs'].shape)
"""
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [
        'mte_mm.datasets.digits', '359', 'torch.Size([3,', '16,', '16])']


# How to build each registered class (nested types scoped, as a config of
# another default scope must write them). A class registered without an
# entry here fails the test, so none can be forgotten.
_VIT = dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                      feedforward_channels=64), img_size=32, patch_size=16)
_DINO_HEAD = dict(type='mte_mm.DINOProjector', in_channels=32,
                  out_channels=16, hidden_channels=32, bottleneck_channels=8)
_NONLINEAR = dict(type='mmpretrain.NonLinearNeck', in_channels=32,
                  hid_channels=32, out_channels=16, with_avg_pool=False,
                  norm_cfg=dict(type='BN1d'))
_PREPROCESSOR = dict(type='mmpretrain.SelfSupDataPreprocessor')


def _LATENT(head):
    """An MTE-BYOL / SimSiam / Barlow Twins config on a tiny ResNet."""
    return dict(
        backbone=dict(type='mte_mm.FeatureMapTokenAdapter',
                      backbone=dict(type='mmpretrain.ResNet', depth=18,
                                    base_channels=4)),
        neck=dict(type='mte_mm.MultiTokenNeck', in_channels=32,
                  projector=dict(_NONLINEAR, in_channels=32)),
        head=head, distill=dict(type='mte_mm.EnsembleDistillLoss'),
        data_preprocessor=_PREPROCESSOR)


def _tiny_student():
    """What a teacher is built around: the student's backbone and neck."""
    from torch import nn
    return nn.ModuleDict(dict(backbone=nn.Linear(2, 2), neck=nn.Identity()))


BUILD_ARGS = dict(
    models=dict(
        EMATeacher=dict(student=_tiny_student, momentum=0.01),
        StopGradTeacher=dict(student=_tiny_student),
        SiameseTeacher=dict(student=_tiny_student),
        ViewPolicy=dict(num_views=2),
        MTEVisionTransformer=_VIT,
        MTEMoCoV3ViT=_VIT,
        TransferViT=dict(_VIT, window_size=1, global_attn_indices=[-1]),
        FeatureMapTokenAdapter=dict(
            num_aux_tokens=1, aux_num_heads=1,
            backbone=dict(type='mmpretrain.ConvNeXt',
                          arch=dict(depths=[1, 1, 1, 1],
                                    channels=[8, 8, 8, 16]))),
        AttentionPooling=dict(embed_dims=32, num_queries=2),
        AttentionPooledViT=dict(_VIT, num_pooled_tokens=2),
        CPUSyncBN=dict(num_features=8),
        DINOProjector=dict(in_channels=32, out_channels=16,
                           hidden_channels=32, bottleneck_channels=8),
        IBOTProjector=dict(in_channels=32, out_channels=16,
                           hidden_channels=32, bottleneck_channels=8,
                           shared_last_layer=False),
        DINOSlotHead=dict(out_channels=16, num_slots=3),
        SlotwiseProjector=dict(module=_NONLINEAR),
        MoCoV3SlotHead=dict(predictor=dict(_NONLINEAR, in_channels=16)),
        LatentPredictSlotHead=dict(predictor=dict(_NONLINEAR,
                                                  in_channels=16)),
        LatentCrossCorrelationSlotHead=dict(in_channels=16),
        EnsembleDistillLoss=dict(loss_weight=0.5),
        IBOTPatchLoss=dict(out_channels=16),
        ConcatCLSNeck=dict(num_blocks=2),
        MultiCropPhotometricPreprocessor=dict(mean=[0, 0, 0], std=[1, 1, 1]),
        SimpleFeaturePyramid=dict(in_channels=32, out_channels=16),
        MultiTokenNeck=dict(in_channels=32, projector=_DINO_HEAD),
        MTEDINO=dict(
            backbone=dict(_VIT, type='mte_mm.MTEVisionTransformer'),
            neck=dict(type='mte_mm.MultiTokenNeck', in_channels=32,
                      projector=_DINO_HEAD),
            head=dict(type='mte_mm.DINOSlotHead', out_channels=16),
            distill=dict(type='mte_mm.EnsembleDistillLoss'),
            data_preprocessor=_PREPROCESSOR),
        MTEiBOT=dict(
            backbone=dict(_VIT, type='mte_mm.MTEVisionTransformer',
                          use_mask_token=True),
            neck=dict(type='mte_mm.MultiTokenNeck', in_channels=32,
                      projector=dict(_DINO_HEAD,
                                     type='mte_mm.IBOTProjector')),
            head=dict(type='mte_mm.DINOSlotHead', out_channels=16),
            patch_loss=dict(type='mte_mm.IBOTPatchLoss', out_channels=16),
            distill=dict(type='mte_mm.EnsembleDistillLoss'),
            data_preprocessor=_PREPROCESSOR),
        MTEMoCoV3=dict(
            backbone=dict(_VIT, type='mte_mm.MTEMoCoV3ViT'),
            neck=dict(type='mte_mm.MultiTokenNeck', in_channels=32,
                      projector=_NONLINEAR),
            head=dict(type='mte_mm.MoCoV3SlotHead',
                      predictor=dict(_NONLINEAR, in_channels=16)),
            distill=dict(type='mte_mm.EnsembleDistillLoss'),
            data_preprocessor=_PREPROCESSOR),
        MTEBYOL=_LATENT(dict(type='mte_mm.LatentPredictSlotHead',
                             predictor=dict(_NONLINEAR, in_channels=16))),
        MTESimSiam=_LATENT(dict(type='mte_mm.LatentPredictSlotHead',
                                predictor=dict(_NONLINEAR, in_channels=16))),
        MTEBarlowTwins=_LATENT(dict(
            type='mte_mm.LatentCrossCorrelationSlotHead', in_channels=16)),
    ),
    hooks=dict(KNNEvalHook=dict(data_root='data/knn', interval=2),
               DataFingerprintHook=dict(filename='fp.txt'),
               NonFiniteLossGuardHook=dict(policy='skip'),
               ExactResumeHook=dict(), FrozenParamsHook=dict()),
    datasets=dict(DigitsDataset=dict(split='test', image_size=8,
                                     pipeline=[])),
    transforms=dict(IBOTBlockMasks=dict(patch_size=16),
                    CheckedLoadImageFromFile=dict(on_unreadable='skip'),
                    SeedPerSample=dict(),
                    DecodeMultiCrop=dict(views=[dict(size=8,
                                                     crop_scale=(0.5, 1))])),
    data_samplers=dict(ResumableSeededSampler=dict(dataset=list(range(4)),
                                                   seed=0)),
    optim_wrapper_constructors=dict(
        ViTLayerDecayOptimWrapperConstructor=dict(
            optim_wrapper_cfg=dict(type='OptimWrapper',
                                   optimizer=dict(type='AdamW', lr=1e-3)),
            paramwise_cfg=dict(layer_decay_rate=0.75))),
    optim_wrappers=dict(AutocastOptimWrapper=dict(
        optimizer=torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                  lr=0.1))),
)


# What mmpretrain's projects/dino registers (mmpretrain 1.2,
# projects/dino/{models,engine,dataset}; the projects are not installed with
# the package): DINOHead there is the criterion holder, our projector's old
# name, which is why that name is gone here.
PROJECTS_DINO = dict(models={'DINO', 'DINOHead', 'DINONeck'},
                     hooks={'DINOTeacherTempWarmupHook'},
                     transforms={'DINOMultiCrop'})


def test_no_name_we_register_collides_with_mmpretrain_or_projects_dino():
    """A name (case-insensitive) that mmpretrain or its projects/dino
    registers with its own class must not be one of ours."""
    from mmpretrain.utils import register_all_modules

    from mte_mm.registry import ALL_REGISTRIES
    register_all_modules(init_default_scope=False)
    for kind, registry in ALL_REGISTRIES.items():
        ours = {name.lower() for name, cls in registry.module_dict.items()}
        theirs = {name.lower()
                  for name, cls in registry.twin.module_dict.items()
                  if not cls.__module__.startswith('mte_mm')}
        theirs |= {name.lower() for name in PROJECTS_DINO.get(kind, ())}
        assert not ours & theirs, (kind, ours & theirs)
    from mte_mm.registry import MODELS
    for gone in ('DINOHead', 'DINOLoss', 'IBOTHead'):  # 0.1.0's names
        assert gone not in MODELS.module_dict


@pytest.mark.transfer  # the mmdet and mmseg scopes
def test_every_registered_class_builds_from_every_default_scope():
    import importlib

    from mmengine.logging import MessageHub
    from mmengine.registry import DefaultScope

    from mte_mm.registry import ALL_REGISTRIES
    MessageHub.get_current_instance().update_info('max_iters', 10)
    kinds = dict(models='MODELS', hooks='HOOKS', datasets='DATASETS',
                 transforms='TRANSFORMS', data_samplers='DATA_SAMPLERS',
                 optim_wrapper_constructors='OPTIM_WRAPPER_CONSTRUCTORS',
                 optim_wrappers='OPTIM_WRAPPERS')
    checked = 0
    for kind, registry in ALL_REGISTRIES.items():
        missing = set(registry.module_dict) - set(BUILD_ARGS[kind])
        assert not missing, f'add build arguments for {missing} ({kind})'
        for name, cls in registry.module_dict.items():
            for scope in ('mmpretrain', 'mmdet', 'mmseg'):
                scoped = getattr(importlib.import_module(f'{scope}.registry'),
                                 kinds[kind])
                with DefaultScope.overwrite_default_scope(scope):
                    obj = scoped.build(dict(BUILD_ARGS[kind][name],
                                            type=f'mte_mm.{name}'))
                assert type(obj) is cls, (scope, name)
            # and by plain name inside mmpretrain's scope
            plain = getattr(importlib.import_module('mmpretrain.registry'),
                            kinds[kind])
            with DefaultScope.overwrite_default_scope('mmpretrain'):
                assert plain.get(name) is cls, name
            checked += 1
    assert checked >= 16
