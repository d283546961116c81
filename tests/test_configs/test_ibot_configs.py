"""iBOT and MTE-iBOT configs end to end with the real tools (tiny arch,
synthetic images): 3 training iterations with per-crop block masks,
checkpoint, resume, export to a plain ViT, kNN of the checkpoint, and (MTE)
a 2-iteration UperNet on generated ADE20K data from the export."""
import json

import pytest
import torch

from ..conftest import REPO, run_tool
from ..test_transfer.test_segmentation import CONFIG as UPERNET_CONFIG
from ..test_transfer.test_segmentation import ade_root  # noqa: F401
from ..test_transfer.test_segmentation import tiny_options

LAYERS = 4  # UperNet reads 4 blocks


def tiny_config(path, base, data_root, max_epochs):
    """The repo config with a tiny ViT (32 px patches) and head."""
    path.write_text(f"""
_base_ = ['{REPO}/{base}']
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32,
                            num_layers={LAYERS}, num_heads=2,
                            feedforward_channels=64),
                  patch_size=32),
    neck=dict(in_channels=32,
              projector=dict(in_channels=32, out_channels=64,
                             hidden_channels=32, bottleneck_channels=16)),
    head=dict(out_channels=64),
    patch_loss=dict(out_channels=64))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        pin_memory=False, dataset=dict(data_root='{data_root}'))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
""")
    return path


# the masks' patch grid follows the tiny backbone's 32 px patches
MASKS_32PX = ['--cfg-options', 'train_dataloader.dataset.pipeline.2.'
              'patch_size=32']


@pytest.mark.parametrize('config', [
    # its export goes on into mmseg's UperNet
    pytest.param('configs/mte_ibot_vits.py', marks=pytest.mark.transfer),
    'configs/ibot_vits.py'])
def test_ibot_train_resume_export_knn(config, image_folder, labelled_folder,
                                      ade_root, tmp_path):  # noqa: F811
    is_mte = 'mte_' in config
    cfg1 = tiny_config(tmp_path / 'one.py', config, image_folder, 1)
    proc = run_tool(['tools/train.py', cfg1, '--work-dir', tmp_path / 'w',
                     *MASKS_32PX])
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][3/3]' in log
    keys = ['loss_global', 'loss_patch'] + (
        ['loss_aux', 'loss_pooled', 'loss_distill'] if is_mte else [])
    for key in keys:
        assert f'{key}: ' in log
    if not is_mte:
        assert 'loss_aux' not in log and 'loss_distill' not in log
    state = torch.load(tmp_path / 'w' / 'epoch_1.pth',
                       weights_only=False)['state_dict']
    assert int(state['teacher.steps']) == 3
    assert ('backbone.aux_tokens' in state) == is_mte
    assert state['backbone.mask_token'].shape == (1, 32)
    # both centres travel with the checkpoint and have moved
    assert state['patch_loss.center'].shape == (1, 64)
    assert state['patch_loss.center'].abs().sum() > 0
    assert state['head.center'].shape == ((9 if is_mte else 1), 64)

    cfg2 = tiny_config(tmp_path / 'two.py', config, image_folder, 2)
    proc = run_tool(['tools/train.py', cfg2, '--work-dir', tmp_path / 'r',
                     '--resume', tmp_path / 'w' / 'epoch_1.pth',
                     *MASKS_32PX])
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 3' in log
    assert 'Epoch(train) [2][3/3]' in log
    ckpt = tmp_path / 'r' / 'epoch_2.pth'
    resumed = torch.load(ckpt, weights_only=False)['state_dict']
    assert int(resumed['teacher.steps']) == 6

    run_tool(['tools/export_backbone.py', cfg2, ckpt, '--out-dir',
              tmp_path / 'export'])
    exported_path = tmp_path / 'export' / \
        'epoch_2_teacher_vit_mmpretrain.pth'
    exported = torch.load(exported_path, weights_only=False)
    assert not {'aux_tokens', 'mask_token'} & set(exported['state_dict'])
    assert exported['meta']['backbone']['type'] == \
        'mmpretrain.VisionTransformer'
    torch.testing.assert_close(exported['state_dict']['cls_token'],
                               resumed['teacher.module.backbone.cls_token'])

    run_tool(['tools/knn_eval.py', cfg2, ckpt, '--data-root',
              labelled_folder, '--ks', '3', '--resize', '64', '--crop', '64',
              '--num-workers', '0', '--out', tmp_path / 'knn.json'])
    result = json.loads((tmp_path / 'knn.json').read_text())
    assert ('ensemble' in result) == is_mte and 'global' in result
    assert result['global']['3'] >= 75.0  # dark vs bright noise
    if not is_mte:
        return
    # the export initialises mmseg's UperNet exactly as an MTE-DINO one
    options = [o for o in tiny_options(exported_path, ade_root)
               if not o.startswith('model.backbone.arch.num_layers')]
    proc = run_tool(['tools/train.py', UPERNET_CONFIG, '--work-dir',
                     tmp_path / 'seg', '--cfg-options', *options,
                     f'model.backbone.arch.num_layers={LAYERS}',
                     'model.backbone.patch_size=32'])
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported_path}' \
        in log
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log


def test_recipe_values_and_baselines():
    """The ViT-S/16 recipe (mte-method.md) as the configs state it, and the
    baselines differ from MTE only in N, K and the distillation."""
    from mmengine.config import Config
    mte = Config.fromfile(str(REPO / 'configs/mte_ibot_vits.py'))
    model = mte.model
    assert model.backbone.use_mask_token and model.backbone.drop_path_rate \
        == 0.1
    assert model.neck.projector.type == 'IBOTProjector'
    assert model.neck.projector.shared_last_layer
    assert not model.neck.projector.norm_last_layer
    for loss in (model.head, model.patch_loss):
        assert (loss.out_channels, loss.warmup_teacher_temp,
                loss.teacher_temp, loss.warmup_teacher_temp_epochs,
                loss.student_temp) == (8192, 0.04, 0.07, 30, 0.1)
    views = mte.train_dataloader.dataset.pipeline[1]
    assert views.type == 'DecodeMultiCrop'
    assert [v.num for v in views.views] == [1, 1, 10]
    assert views.views[0].crop_scale == (0.25, 1.0)
    assert views.views[2].crop_scale == (0.05, 0.25)
    masks = mte.train_dataloader.dataset.pipeline[2]
    assert masks.type == 'IBOTBlockMasks' and masks.patch_size == \
        model.backbone.patch_size
    assert (mte.train_cfg.max_epochs, mte.optim_wrapper.clip_grad.max_norm,
            mte.model.base_momentum) == (800, 3.0, 0.004)
    for size, dims in (('s', 384), ('b', 768)):
        base = Config.fromfile(str(REPO / f'configs/ibot_vit{size}.py'))
        with_mte = Config.fromfile(str(REPO / f'configs/mte_ibot_vit{size}.py'))
        assert base.model.backbone.arch.embed_dims == dims
        assert base.model.neck.projector.in_channels == dims
        assert (base.model.backbone.num_aux_tokens,
                base.model.neck.num_pooled_tokens, base.model.distill) == \
            (0, 0, None)
        base.model.backbone.num_aux_tokens = 4
        base.model.neck.num_pooled_tokens = 4
        base.model.distill = with_mte.model.distill
        assert base.model.to_dict() == with_mte.model.to_dict()
