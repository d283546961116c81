"""Linear-probe and fine-tune configs train on synthetic labelled images
with a checkpoint written by tools/export_backbone.py as init_cfg."""
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

from ..conftest import REPO, TINY_MTE_ARCH, run_tool

sys.path.insert(0, str(REPO / 'tools'))
import export_backbone  # noqa: E402

ARCH = ['model.backbone.arch.embed_dims=32', 'model.backbone.arch.num_layers=2',
        'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64',
        'model.backbone.patch_size=32']


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """A tiny MTE-DINO (224 px, 32 px patches) exported as a plain ViT."""
    cfg = Config.fromfile(str(REPO / 'configs/mte_dino_vits.py'))
    for option in TINY_MTE_ARCH:
        key, value = option.split('=')
        cfg.merge_from_dict({key: int(value)})
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(cfg.model)
    model.init_weights()
    out = tmp_path_factory.mktemp('exported')
    torch.save({'state_dict': model.state_dict()}, out / 'mte.pth')
    return export_backbone.export(cfg, str(out / 'mte.pth'), str(out))[
        'mmpretrain']


def data_options(root):
    options = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={root}',
                    f'{loader}.batch_size=4', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False',
                    f'{loader}.pin_memory=False']
    return options + ['data_preprocessor.num_classes=2',
                      'model.head.num_classes=2', 'train_cfg.max_epochs=1',
                      'train_cfg.val_interval=1',
                      'default_hooks.logger.interval=1',
                      'val_evaluator.topk=1', 'test_evaluator.topk=1']


@pytest.mark.parametrize('config, extra', [
    ('configs/linear_probe/vits_linear_probe.py',
     ['model.backbone.out_indices=[0,1]', 'model.backbone.frozen_stages=2',
      'model.neck.num_blocks=2', 'model.head.in_channels=64']),
    ('configs/linear_probe/vitb_linear_probe.py',
     ['model.backbone.out_indices=[1]', 'model.backbone.frozen_stages=2',
      'model.head.in_channels=64']),
])
def test_linear_probe_trains_on_a_frozen_exported_backbone(
        config, extra, exported, labelled_folder, tmp_path):
    proc = run_tool(['tools/train.py', config, '--work-dir', tmp_path,
                     '--cfg-options', *ARCH, *extra,
                     f'model.backbone.init_cfg.checkpoint={exported}',
                     *data_options(labelled_folder)])
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported}' in log
    assert 'Epoch(train) [1][3/3]' in log and 'accuracy/top1' in log
    trained = torch.load(tmp_path / 'epoch_1.pth',
                         weights_only=False)['state_dict']
    weights = torch.load(exported, weights_only=False)['state_dict']
    # the probe trained, the backbone is exactly the exported one
    for key, value in weights.items():
        torch.testing.assert_close(trained[f'backbone.{key}'], value,
                                   rtol=0, atol=0, msg=key)
    assert any(k.startswith('head.fc') for k in trained)


@pytest.mark.parametrize('config', ['configs/finetune/vits_finetune.py',
                                    'configs/finetune/vitb_finetune.py'])
def test_finetune_trains_from_the_exported_backbone(config, exported,
                                                    labelled_folder, tmp_path):
    proc = run_tool(['tools/train.py', config, '--work-dir', tmp_path,
                     '--cfg-options', *ARCH, 'model.head.in_channels=32',
                     f'model.backbone.init_cfg.checkpoint={exported}',
                     *data_options(labelled_folder)])
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported}' in log
    assert 'Epoch(train) [1][3/3]' in log and 'accuracy/top1' in log
    trained = torch.load(tmp_path / 'epoch_1.pth',
                         weights_only=False)['state_dict']
    weights = torch.load(exported, weights_only=False)['state_dict']
    # fine-tuning moved the backbone away from the exported weights
    assert not torch.equal(trained['backbone.layers.1.attn.qkv.weight'],
                           weights['layers.1.attn.qkv.weight'])
