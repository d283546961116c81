"""3-iteration tools/train.py runs of the real pretraining configs (tiny arch,
synthetic JPEGs via --cfg-options), checkpoint saved and resumed."""
import pytest
import torch

from ..conftest import TINY_MTE_ARCH as TINY_ARCH
from ..conftest import run_tool


def options(data_root, max_epochs):
    return TINY_ARCH + [
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.pin_memory=False',
        f'train_cfg.max_epochs={max_epochs}',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
    ]


@pytest.mark.parametrize('config, loss_keys', [
    ('configs/mte_dino_vits.py',
     ['loss_global', 'loss_aux', 'loss_pooled', 'loss_distill']),
    ('configs/dino_vits.py', ['loss_global']),
])
def test_pretrain_three_iterations_then_resume(config, loss_keys,
                                               image_folder, tmp_path):
    proc = run_tool(['tools/train.py', config, '--work-dir', tmp_path,
                     '--cfg-options', *options(image_folder, 1)])
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][3/3]' in log
    for key in loss_keys:
        assert f'{key}: ' in log
    if config.endswith('/dino_vits.py'):
        assert 'loss_aux' not in log and 'loss_distill' not in log
    ckpt = torch.load(tmp_path / 'epoch_1.pth', weights_only=False)
    assert ckpt['meta']['iter'] == 3
    state = ckpt['state_dict']
    assert int(state['teacher.steps']) == 3  # one EMA update per step
    is_mte = config.endswith('mte_dino_vits.py')
    assert ('backbone.aux_tokens' in state) == is_mte
    assert any(k.startswith('neck.pooling.') for k in state) == is_mte
    # the teacher moved away from its first copy but is not the student
    assert not torch.equal(state['teacher.module.backbone.cls_token'],
                           state['backbone.cls_token'])
    # FrozenParamsHook: in the frozen first epoch the last layer's weight_v
    # (weight_g is fixed: norm_last_layer) has no optimizer state yet
    frozen_epoch_states = len(ckpt['optimizer']['state'])

    resumed_dir = tmp_path / 'resumed'
    proc = run_tool(['tools/train.py', config, '--work-dir', resumed_dir,
                     '--resume', tmp_path / 'epoch_1.pth',
                     '--cfg-options', *options(image_folder, 2)])
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 3' in log
    assert 'Epoch(train) [2][3/3]' in log
    resumed = torch.load(resumed_dir / 'epoch_2.pth', weights_only=False)
    assert resumed['meta']['iter'] == 6
    assert int(resumed['state_dict']['teacher.steps']) == 6
    # the DINO centre buffers (the head's state) travel with the checkpoint
    assert 'head.center' in resumed['state_dict']
    # ... and it trains from the second epoch on
    assert len(resumed['optimizer']['state']) == frozen_epoch_states + 1
