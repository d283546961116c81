"""MTE-DINO and DINO on ConvNeXt end to end with the real tools (tiny widths
and depths, synthetic images): 3 training iterations, resume, export to a
plain mmpretrain ConvNeXt, kNN and token maps of the checkpoint, and (MTE)
the export trains a 2-iteration Mask R-CNN on generated COCO data and a
2-iteration UperNet on generated ADE20K data."""
import json

import pytest
import torch

from ..conftest import REPO, run_tool
from ..test_transfer.test_detection import coco_root  # noqa: F401
from ..test_transfer.test_detection import options as det_options
from ..test_transfer.test_segmentation import ade_root  # noqa: F401
from ..test_transfer.test_segmentation import tiny_options as seg_options

CHANNELS = [8, 16, 32, 64]
ARCH = f'arch=dict(_delete_=True, depths=[1, 1, 1, 1], channels={CHANNELS})'


def tiny_pretrain_config(path, base, data_root, max_epochs, extra=''):
    path.write_text(f"""
_base_ = ['{REPO}/{base}']
model = dict(
    backbone=dict(backbone=dict({ARCH})),
    neck=dict(in_channels={CHANNELS[-1]},
              projector=dict(in_channels={CHANNELS[-1]}, out_channels=64,
                             hidden_channels=32, bottleneck_channels=16)),
    head=dict(out_channels=64))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        pin_memory=False, dataset=dict(data_root='{data_root}'))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
{extra}
""")
    return path


def tiny_transfer_config(path, base, heads):
    path.write_text(f"""
_base_ = ['{REPO}/{base}']
model = dict(backbone=dict({ARCH}), {heads})
""")
    return path


# The baseline (configs/dino_convnext_tiny.py) takes the same tool paths
# with N = K = 0; its step is in tests/test_configs/test_every_config.py and
# its equality with DINO in the algorithm tests, so the chain runs the MTE
# config only (the baseline's chain cost 41 s of CI).
@pytest.mark.transfer  # ends with the mmdet / mmseg recipes
@pytest.mark.parametrize('config', ['configs/mte_dino_convnext_tiny.py'])
def test_convnext_train_resume_export_knn_maps(
        config, image_folder, labelled_folder, transfer, tmp_path):
    is_mte = 'mte_' in config
    # with the online kNN hook on every token kind
    cfg1 = tiny_pretrain_config(
        tmp_path / 'one.py', config, image_folder, 1,
        "custom_hooks = [dict(type='KNNEvalHook', data_root="
        f"'{labelled_folder}', interval=1, ks=(3, ), resize=64, crop=64, "
        "with_aux=True)]")
    proc = run_tool(['tools/train.py', cfg1, '--work-dir', tmp_path / 'w'])
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][3/3]' in log
    assert 'kNN top-1: knn/global_top1_k3' in log
    assert ('knn/pooled_0_top1_k3' in log) == is_mte
    keys = ['loss_global'] + (['loss_pooled', 'loss_distill'] if is_mte
                              else [])
    for key in keys:
        assert f'{key}: ' in log
    assert 'loss_aux' not in log  # N = 0 by default on ConvNeXt
    state = torch.load(tmp_path / 'w' / 'epoch_1.pth',
                       weights_only=False)['state_dict']
    assert int(state['teacher.steps']) == 3
    assert 'backbone.backbone.norm3.weight' in state
    assert any(k.startswith('neck.pooling.') for k in state) == is_mte

    cfg2 = tiny_pretrain_config(tmp_path / 'two.py', config, image_folder, 2)
    proc = run_tool(['tools/train.py', cfg2, '--work-dir', tmp_path / 'r',
                     '--resume', tmp_path / 'w' / 'epoch_1.pth'])
    assert 'resumed epoch: 1, iter: 3' in proc.stdout + proc.stderr
    ckpt = tmp_path / 'r' / 'epoch_2.pth'
    resumed = torch.load(ckpt, weights_only=False)['state_dict']
    assert int(resumed['teacher.steps']) == 6

    proc = run_tool(['tools/export_backbone.py', cfg2, ckpt, '--out-dir',
                     tmp_path / 'export'])
    exported_path = tmp_path / 'export' / \
        'epoch_2_teacher_convnext_mmpretrain.pth'
    assert f'mmpretrain: {exported_path}' in proc.stdout
    exported = torch.load(exported_path, weights_only=False)
    assert exported['meta']['backbone']['type'] == 'mmpretrain.ConvNeXt'
    # the plain ConvNeXt from the export computes the teacher's backbone
    from mmpretrain.registry import MODELS
    plain = MODELS.build(exported['meta']['backbone'])
    plain.load_state_dict(exported['state_dict'])
    plain.eval()
    teacher = {k[len('teacher.module.backbone.backbone.'):]: v
               for k, v in resumed.items()
               if k.startswith('teacher.module.backbone.backbone.')}
    assert set(teacher) == set(exported['state_dict'])
    for key, value in teacher.items():
        assert torch.equal(exported['state_dict'][key], value), key

    run_tool(['tools/knn_eval.py', cfg2, ckpt, '--data-root',
              labelled_folder, '--ks', '3', '--resize', '64', '--crop', '64',
              '--num-workers', '0', '--out', tmp_path / 'knn.json'])
    result = json.loads((tmp_path / 'knn.json').read_text())
    expected = {'global'} | ({f'pooled_{i}' for i in range(4)} | {
        'pooled', 'ensemble'} if is_mte else set())
    assert set(result) == expected
    assert result['global']['3'] >= 75.0  # dark vs bright noise

    image = next((labelled_folder / 'val' / 'dark').iterdir())
    proc = run_tool(['tools/visualize_tokens.py', cfg2, ckpt, image, '--out',
                     tmp_path / 'maps.png', '--panel', '32'])
    assert f'{5 if is_mte else 1} panels (global' in proc.stdout
    assert (tmp_path / 'maps.png').is_file()
    if is_mte:
        transfer(exported_path, tmp_path)


@pytest.fixture
def transfer(coco_root, ade_root):  # noqa: F811
    """Mask R-CNN and UperNet, 2 iterations each, from an export."""
    def run(exported_path, tmp_path):
        det = tiny_transfer_config(
            tmp_path / 'det.py',
            'configs/det/mask_rcnn_mte_convnext_tiny_fpn_1x_coco.py',
            f'neck=dict(in_channels={CHANNELS})')
        options = [o for o in det_options(exported_path, coco_root,
                                          ['bbox_head'])
                   if not o.startswith(('model.backbone.',
                                        'model.neck.in_channels'))]
        proc = run_tool(['tools/train.py', det, '--work-dir',
                         tmp_path / 'det', '--cfg-options', *options,
                         f'model.backbone.init_cfg.checkpoint={exported_path}',
                         'train_cfg.max_epochs=1'], timeout=900)
        log = proc.stdout + proc.stderr
        assert 'Loads checkpoint by local backend from path: ' \
            f'{exported_path}' in log
        assert 'coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log
        assert '[2/2]' in log  # 3 images, batch 2: two iterations

        seg = tiny_transfer_config(
            tmp_path / 'seg.py',
            'configs/seg/upernet_mte_convnext_tiny_ade20k_512x512_160k.py',
            f'decode_head=dict(in_channels={CHANNELS}, channels=16), '
            f'auxiliary_head=dict(in_channels={CHANNELS[2]}, channels=16)')
        options = [o for o in seg_options(exported_path, ade_root)
                   if not o.startswith(('model.backbone.', 'model.neck.',
                                        'model.decode_head.',
                                        'model.auxiliary_head.'))]
        proc = run_tool(['tools/train.py', seg, '--work-dir',
                         tmp_path / 'seg', '--cfg-options', *options,
                         f'model.backbone.init_cfg.checkpoint={exported_path}'])
        log = proc.stdout + proc.stderr
        assert 'Iter(train) [2/2]' in log and 'mIoU' in log
    return run


@pytest.mark.parametrize('config', ['configs/mte_dino_swin_tiny.py',
                                    'configs/dino_swin_tiny.py'])
def test_swin_configs_train_a_step_on_real_crop_sizes(config):
    """Swin-T through the same adapter: one training step of the real
    config (tiny widths) on 224 px global and 96 px local crops."""
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict({
        'model.backbone.backbone.arch': dict(_delete_=True, embed_dims=8,
                                             depths=[1] * 4,
                                             num_heads=[1, 1, 2, 2]),
        'model.neck.in_channels': 64,
        'model.neck.projector.in_channels': 64,
        'model.neck.projector.out_channels': 32,
        'model.neck.projector.hidden_channels': 16,
        'model.neck.projector.bottleneck_channels': 8,
        'model.head.out_channels': 32})
    MessageHub.get_current_instance().update_info('max_iters', 10)
    MessageHub.get_current_instance().update_info('epoch', 1)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    views = [torch.randn(2, 3, 224, 224) for _ in range(2)] + \
        [torch.randn(2, 3, 96, 96) for _ in range(2)]
    before = model.backbone.backbone.stages[-1].blocks[0].attn.w_msa \
        .qkv.weight.clone()
    losses = model.loss(views, None)
    assert ('loss_pooled' in losses) == ('mte_' in config)
    optim.update_params(sum(losses.values()))
    after = model.backbone.backbone.stages[-1].blocks[0].attn.w_msa.qkv.weight
    assert not torch.equal(before, after)
