"""BYOL, SimSiam and Barlow Twins on ResNet-50: the baselines reproduce the
installed mmpretrain's own configs value for value; the MTE configs train 3
iterations with the real tools (tiny widths), resume, export a plain
mmpretrain ResNet and are evaluated by tools/knn_eval.py."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from ..conftest import REPO, run_tool
from ..test_transfer.test_detection import coco_root  # noqa: F401
from ..test_transfer.test_detection import options as det_options
from ..test_transfer.test_segmentation import ade_root  # noqa: F401
from ..test_transfer.test_segmentation import tiny_options as seg_options

RECIPES = dict(
    byol='byol/byol_resnet50_16xb256-coslr-200e_in1k.py',
    simsiam='simsiam/simsiam_resnet50_8xb32-coslr-100e_in1k.py',
    barlowtwins='barlowtwins/barlowtwins_resnet50_8xb256-coslr-300e_in1k.py')
# what our configs add to mmpretrain's runtime
OUR_HOOKS = ('non_finite', )


def unscoped(value):
    """A config value without the ``_scope_`` keys that inheriting through
    ``mmpretrain::`` adds."""
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(unscoped(v) for v in value)
    return value


def mmpretrain_config(method):
    import mmpretrain
    return Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__), '.mim',
                                    'configs', RECIPES[method]))


@pytest.mark.parametrize('method', sorted(RECIPES))
def test_baselines_reproduce_mmpretrains_recipes(method):
    ours = Config.fromfile(str(REPO / f'configs/{method}_resnet50.py'))
    theirs = mmpretrain_config(method)
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg', 'auto_scale_lr', 'custom_hooks',
                'data_preprocessor', 'env_cfg', 'randomness'):
        assert unscoped(ours.get(key)) == unscoped(theirs.get(key)), key
    hooks = {k: v for k, v in ours.default_hooks.items()
             if k not in OUR_HOOKS}
    assert unscoped(hooks) == unscoped(theirs.default_hooks)
    model = Config(dict(model=unscoped(ours.model.to_dict()))).model
    recipe = theirs.model
    # the backbone is theirs, inside the token adapter
    assert model.backbone.type == 'FeatureMapTokenAdapter'
    assert model.backbone.backbone == recipe.backbone
    assert model.backbone.num_aux_tokens == 0
    assert model.neck.num_pooled_tokens == 0 and model.distill is None
    # the projector is their neck; the average pool moved into the adapter
    projector, neck = dict(model.neck.projector), dict(recipe.neck)
    assert projector.pop('with_avg_pool') is False
    assert neck.pop('with_avg_pool') is True
    assert projector == neck
    assert model.neck.in_channels == 2048
    if method == 'barlowtwins':
        assert model.head.in_channels == recipe.head.in_channels
    else:
        assert model.head.predictor == recipe.head.predictor
        assert model.head.loss_weight == dict(byol=2.0, simsiam=0.5)[method]
    assert model.head.loss == recipe.head.loss
    assert model.get('base_momentum') == recipe.get('base_momentum')
    mte = Config.fromfile(str(REPO / f'configs/mte_{method}_resnet50.py'))
    assert mte.model.neck.num_pooled_tokens == 4
    assert mte.model.distill.loss_weight == 1.0


def tiny_config(path, method, data_root, max_epochs):
    """The MTE config with a tiny ResNet-18, projector and predictor on
    synthetic images at 64 px."""
    head = dict(byol="predictor=dict(in_channels=16, hid_channels=32, "
                     "out_channels=16)",
                simsiam="predictor=dict(in_channels=16, hid_channels=8, "
                        "out_channels=16)",
                barlowtwins='in_channels=16')[method]
    path.write_text(f"""
_base_ = ['{REPO}/configs/mte_{method}_resnet50.py']
model = dict(
    backbone=dict(num_aux_tokens=1, aux_num_heads=1,
                  backbone=dict(depth=18, base_channels=8, stem_channels=8,
                                norm_cfg=dict(type='BN'))),
    neck=dict(in_channels=64,
              projector=dict(in_channels=64, hid_channels=32, out_channels=16,
                             norm_cfg=dict(type='BN1d'))),
    head=dict({head}))
view = [dict(type='RandomResizedCrop', scale=64, backend='pillow'),
        dict(type='RandomFlip', prob=0.5)]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False,
    dataset=dict(_delete_=True, type='CustomDataset',
                 data_root='{data_root}',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='MultiView', num_views=2,
                                transforms=[view]),
                           dict(type='PackInputs')]))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
# mmpretrain's runtime leaves the seed random; a test run must repeat
randomness = dict(seed=0, deterministic=False)
""")
    return path


# the tiny ResNet-18 of tiny_config: stage widths 8, 16, 32, 64
STAGES = [8, 16, 32, 64]


@pytest.mark.transfer  # its fixtures are COCO / ADE20K sets (mmdet, mmseg)
@pytest.mark.parametrize('method', sorted(RECIPES))
def test_mte_config_trains_resumes_exports_and_evaluates(
        method, image_folder, labelled_folder, tmp_path, coco_root,  # noqa
        ade_root):  # noqa: F811
    cfg1 = tiny_config(tmp_path / 'one.py', method, image_folder, 1)
    proc = run_tool(['tools/train.py', cfg1, '--work-dir', tmp_path / 'w'])
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][3/3]' in log
    for key in ('loss_global', 'loss_aux', 'loss_pooled', 'loss_distill'):
        assert f'{key}: ' in log, key
    state = torch.load(tmp_path / 'w' / 'epoch_1.pth',
                       weights_only=False)['state_dict']
    # only BYOL keeps a target network
    assert ('teacher.steps' in state) == (method == 'byol')
    assert 'backbone.aux_tokens' in state and 'neck.pooling.queries' in state

    cfg2 = tiny_config(tmp_path / 'two.py', method, image_folder, 2)
    proc = run_tool(['tools/train.py', cfg2, '--work-dir', tmp_path / 'r',
                     '--resume', tmp_path / 'w' / 'epoch_1.pth'])
    assert 'resumed epoch: 1, iter: 3' in proc.stdout + proc.stderr
    ckpt = tmp_path / 'r' / 'epoch_2.pth'
    resumed = torch.load(ckpt, weights_only=False)['state_dict']

    proc = run_tool(['tools/export_backbone.py', cfg2, ckpt, '--out-dir',
                     tmp_path / 'export'])
    source = 'teacher' if method == 'byol' else 'student'
    exported_path = tmp_path / 'export' / \
        f'epoch_2_{source}_resnet_mmpretrain.pth'
    assert f'mmpretrain: {exported_path}' in proc.stdout
    exported = torch.load(exported_path, weights_only=False)
    assert exported['meta']['backbone']['type'] == 'mmpretrain.ResNet'
    prefix = ('teacher.module.' if method == 'byol' else '') + \
        'backbone.backbone.'
    weights = {k[len(prefix):]: v for k, v in resumed.items()
               if k.startswith(prefix)}
    assert set(weights) == set(exported['state_dict'])
    for key, value in weights.items():
        assert torch.equal(exported['state_dict'][key], value), key

    run_tool(['tools/knn_eval.py', cfg2, ckpt, '--data-root',
              labelled_folder, '--ks', '3', '--resize', '64', '--crop', '64',
              '--num-workers', '0', '--out', tmp_path / 'knn.json'])
    result = json.loads((tmp_path / 'knn.json').read_text())
    assert {'global', 'aux_0', 'pooled_0', 'ensemble'} <= set(result)
    assert result['global']['3'] >= 75.0  # dark vs bright noise
    if method == 'byol':  # the ResNet export in mmdet's and mmseg's recipes
        transfer(exported_path, tmp_path, coco_root, ade_root)


def transfer(exported_path, tmp_path, coco_root, ade_root):  # noqa: F811
    """Mask R-CNN and UperNet, 2 iterations each, from a ResNet export."""
    backbone = ['model.backbone.depth=18', 'model.backbone.base_channels=8',
                'model.backbone.stem_channels=8',
                f'model.backbone.init_cfg.checkpoint={exported_path}']
    options = [o for o in det_options(exported_path, coco_root,
                                      ['bbox_head'])
               if not o.startswith(('model.backbone.',
                                    'model.neck.in_channels'))]
    proc = run_tool(['tools/train.py',
                     REPO / 'configs/det/mask_rcnn_mte_r50_fpn_1x_coco.py',
                     '--work-dir', tmp_path / 'det', '--cfg-options',
                     *options, *backbone,
                     f'model.neck.in_channels={STAGES}'.replace(' ', ''),
                     'train_cfg.max_epochs=1'], timeout=900)
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported_path}' \
        in log
    assert 'missing keys' not in log and 'unexpected key' not in log
    assert 'coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log
    assert '[2/2]' in log

    options = [o for o in seg_options(exported_path, ade_root)
               if not o.startswith(('model.backbone.', 'model.neck.',
                                    'model.decode_head.',
                                    'model.auxiliary_head.'))]
    proc = run_tool(['tools/train.py',
                     REPO / 'configs/seg' /
                     'upernet_mte_r50_ade20k_512x512_80k.py',
                     '--work-dir', tmp_path / 'seg', '--cfg-options',
                     *options, *backbone,
                     f'model.decode_head.in_channels={STAGES}'.replace(
                         ' ', ''),
                     'model.decode_head.channels=16',
                     f'model.auxiliary_head.in_channels={STAGES[2]}',
                     'model.auxiliary_head.channels=16'])
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported_path}' \
        in log
    assert 'missing keys' not in log and 'unexpected key' not in log
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log


@pytest.mark.parametrize('method', sorted(RECIPES))
def test_small_configs_train_a_step_at_32px(method):
    """configs/small/{mte_,}<method>_small.py (for compare_methods.py):
    one optimizer step of the real model on 32 px views."""
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    MessageHub.get_current_instance().update_info('max_iters', 10)
    for name, keys in ((f'mte_{method}', {'loss_global', 'loss_pooled',
                                          'loss_distill'}),
                       (method, {'loss_global'})):
        cfg = Config.fromfile(str(REPO / f'configs/small/{name}_small.py'))
        init_default_scope('mmpretrain')
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.train()
        assert model.backbone.export_kind == 'resnet_cifar'
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        views = [torch.randn(4, 3, 32, 32) for _ in range(2)]
        losses = model.loss(views, [])
        assert keys <= set(losses) and 'loss_aux' not in losses
        before = model.backbone.backbone.conv1.weight.clone()
        optim.update_params(sum(v for k, v in losses.items()
                                if k.startswith('loss')))
        assert not torch.equal(before, model.backbone.backbone.conv1.weight)
