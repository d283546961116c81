"""MoCo v3 and MTE-MoCo v3 configs end to end with the real tools (tiny
arch, synthetic images): 3 training iterations, checkpoint, resume, export to
a plain ViT, token maps and kNN evaluation of the checkpoint."""
import json

import pytest
import torch

from ..conftest import REPO, run_tool


def tiny_config(path, base, data_root, max_epochs):
    """The repo config with a tiny ViT, projector and predictor."""
    path.write_text(f"""
_base_ = ['{REPO}/{base}']
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2,
                            num_heads=2, feedforward_channels=64),
                  patch_size=32),
    neck=dict(in_channels=32, projector=dict(in_channels=32, hid_channels=32,
                                             out_channels=16)),
    head=dict(predictor=dict(in_channels=16, hid_channels=32,
                             out_channels=16)))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        pin_memory=False, dataset=dict(data_root='{data_root}'))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
""")
    return path


# The baseline (configs/mocov3_vits.py) takes the same tool paths with
# N = K = 0 (a baseline ViT chain is DINO's, test_pretrain_configs.py); its
# step is in test_every_config.py, so the chain runs the MTE config only
# (the baseline's chain cost 44 s of CI).
@pytest.mark.parametrize('config, loss_keys', [
    ('configs/mte_mocov3_vits.py',
     ['loss_global', 'loss_aux', 'loss_pooled', 'loss_distill',
      'slot_aux']),
])
def test_mocov3_train_resume_export_knn(config, loss_keys, image_folder,
                                        labelled_folder, tmp_path):
    is_mte = 'mte_' in config
    cfg1 = tiny_config(tmp_path / 'one.py', config, image_folder, 1)
    proc = run_tool(['tools/train.py', cfg1, '--work-dir', tmp_path / 'w'])
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][3/3]' in log
    for key in loss_keys:
        assert f'{key}: ' in log
    if not is_mte:
        assert 'loss_aux' not in log and 'loss_distill' not in log
    state = torch.load(tmp_path / 'w' / 'epoch_1.pth',
                       weights_only=False)['state_dict']
    assert int(state['teacher.steps']) == 3
    assert ('backbone.aux_tokens' in state) == is_mte
    assert any(k.startswith('neck.pooling.') for k in state) == is_mte

    cfg2 = tiny_config(tmp_path / 'two.py', config, image_folder, 2)
    proc = run_tool(['tools/train.py', cfg2, '--work-dir', tmp_path / 'r',
                     '--resume', tmp_path / 'w' / 'epoch_1.pth'])
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 3' in log
    assert 'Epoch(train) [2][3/3]' in log
    ckpt = tmp_path / 'r' / 'epoch_2.pth'
    resumed = torch.load(ckpt, weights_only=False)['state_dict']
    assert int(resumed['teacher.steps']) == 6
    # frozen (stop_grad_conv1, sin-cos embedding): never trained
    for key in ('backbone.patch_embed.projection.weight',
                'backbone.pos_embed'):
        assert torch.equal(resumed[key], state[key]), key
    assert not torch.equal(resumed['backbone.cls_token'],
                           state['backbone.cls_token'])

    proc = run_tool(['tools/export_backbone.py', cfg2, ckpt, '--out-dir',
                     tmp_path / 'export'])
    exported = torch.load(tmp_path / 'export' / 'epoch_2_teacher_vit_'
                          'mmpretrain.pth', weights_only=False)
    assert 'aux_tokens' not in exported['state_dict']
    assert exported['meta']['backbone']['type'] == \
        'mmpretrain.VisionTransformer'
    assert exported['meta']['backbone']['arch']['embed_dims'] == 32

    image = next((labelled_folder / 'val' / 'dark').iterdir())
    proc = run_tool(['tools/visualize_tokens.py', cfg2, ckpt, image, '--out',
                     tmp_path / 'maps.png', '--panel', '32'])
    panels = 9 if is_mte else 1
    assert f'{panels} panels (global' in proc.stdout
    assert (tmp_path / 'maps.png').is_file()

    run_tool(['tools/knn_eval.py', cfg2, ckpt, '--data-root',
              labelled_folder, '--ks', '3', '--resize', '64', '--crop', '64',
              '--num-workers', '0', '--out', tmp_path / 'knn.json'])
    result = json.loads((tmp_path / 'knn.json').read_text())
    expected = {'global'}
    if is_mte:
        expected |= {f'aux_{i}' for i in range(4)} | {
            f'pooled_{i}' for i in range(4)} | {'pooled', 'ensemble'}
    assert set(result) == expected
    # dark vs bright noise is told apart by any sensible feature
    assert result['global']['3'] >= 75.0


def test_mte_mocov3_two_cpu_processes(image_folder, tmp_path):
    """DDP (gloo): keys gathered across processes, the recipe's SyncBN as
    mte_mm.CPUSyncBN (whole-batch statistics per slot)."""
    from ..conftest import free_port
    cfg = tiny_config(tmp_path / 'cfg.py', 'configs/mte_mocov3_vits.py',
                      image_folder, 1)
    proc = run_tool(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir',
                     tmp_path / 'w', '--cfg-options',
                     'train_dataloader.batch_size=1'],
                    env={'PORT': str(free_port())})
    log = proc.stdout + proc.stderr
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'mte_mm.CPUSyncBN' in log
    # 6 images, 3 per process, 1 per step: 3 iterations per epoch
    assert 'Epoch(train) [1][3/3]' in log
    state = torch.load(tmp_path / 'w' / 'epoch_1.pth',
                       weights_only=False)['state_dict']
    assert int(state['teacher.steps']) == 3
