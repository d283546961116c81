"""tools/model_converters/upgrade_mte_checkpoint.py: checkpoints of mte_mm
0.1.0 (``tests/data/legacy_mtedino_e9fadf2.pth``: a 1-epoch tools/train.py
run of configs/mte_dino_vits.py at tiny dims by MTEDINO of commit e9fadf2,
optimizer state included; and the later layout without the SlotwiseProjector
level) convert to checkpoints that load, resume, export and evaluate."""
import json
import sys

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS

from ..conftest import REPO, run_tool
from ..helpers.tool_server import tool_process

sys.path.insert(0, str(REPO / 'tools' / 'model_converters'))
from upgrade_mte_checkpoint import (is_e9fadf2_layout,  # noqa: E402
                                    upgrade_state_dict)

CONVERTER = 'tools/model_converters/upgrade_mte_checkpoint.py'

LEGACY = REPO / 'tests' / 'data' / 'legacy_mtedino_e9fadf2.pth'
# the tiny architecture of that run, in today's config layout
OPTIONS = {
    'model.backbone.arch.embed_dims': 16, 'model.backbone.arch.num_layers': 1,
    'model.backbone.arch.num_heads': 2,
    'model.backbone.arch.feedforward_channels': 32,
    'model.backbone.img_size': 32, 'model.backbone.patch_size': 8,
    'model.backbone.num_aux_tokens': 2, 'model.neck.in_channels': 16,
    'model.neck.num_pooled_tokens': 2,
    'model.neck.projector.in_channels': 16,
    'model.neck.projector.out_channels': 32,
    'model.neck.projector.hidden_channels': 16,
    'model.neck.projector.bottleneck_channels': 8,
    'model.head.out_channels': 32,
}


def config():
    cfg = Config.fromfile(str(REPO / 'configs/mte_dino_vits.py'))
    cfg.merge_from_dict(OPTIONS)
    return cfg


def test_e9fadf2_weights_and_optimizer_state_convert_by_name_and_order():
    legacy = torch.load(LEGACY, weights_only=False)
    old = legacy['state_dict']
    assert is_e9fadf2_layout(old)
    new = upgrade_state_dict(old)
    assert not is_e9fadf2_layout(new) and len(new) == len(old)
    assert upgrade_state_dict(new) == new  # today's layout stays as it is
    cfg = config()
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(cfg.model)
    model.load_state_dict(new, strict=True)
    state = model.state_dict()
    for old_key, new_key in [
            ('backbone.pooling.queries', 'neck.pooling.queries'),
            ('head.mlp.0.weight', 'neck.projector.module.mlp.0.weight'),
            ('teacher.module.head.last_layer.weight_v',
             'teacher.module.neck.projector.module.last_layer.weight_v'),
            ('teacher.module.backbone.pooling.key.weight',
             'teacher.module.neck.pooling.key.weight'),
            ('dino_loss.center', 'head.center'),
            ('backbone.aux_tokens', 'backbone.aux_tokens')]:
        torch.testing.assert_close(state[new_key], old[old_key], rtol=0,
                                   atol=0, msg=new_key)
    # AdamW's state is by parameter position: every moment has the shape of
    # the parameter now at that position, and a step runs
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    optim.load_state_dict(legacy['optimizer'])
    params = [p for group in optim.optimizer.param_groups
              for p in group['params']]
    for param in params:
        moments = optim.optimizer.state.get(param)
        if moments:
            assert moments['exp_avg'].shape == param.shape
    assert sum(1 for p in params if optim.optimizer.state.get(p)) == \
        len(legacy['optimizer']['state'])
    views = [torch.randn(2, 3, 32, 32) for _ in range(2)] + \
        [torch.randn(2, 3, 16, 16) for _ in range(2)]
    MessageHub.get_current_instance().update_info('epoch', 1)
    losses = model.loss(views, None)
    optim.update_params(sum(v for k, v in losses.items() if 'loss' in k))


def test_the_layout_before_slotwise_projectors_converts():
    """Keys of the projectors without the ``module.`` level (0.1.0 after
    e9fadf2) get it; nothing else changes."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    today = MODELS.build(config().model).state_dict()
    before = {k.replace('projector.module.', 'projector.'): v
              for k, v in today.items()}
    assert before.keys() != today.keys()
    assert upgrade_state_dict(before) == today


def test_converted_checkpoint_resumes_exports_and_evaluates(tmp_path,
                                                            labelled_folder):
    from PIL import Image
    import numpy as np
    data = tmp_path / 'data' / 'train' / 'n1'
    data.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for i in range(4):
        Image.fromarray(rng.randint(0, 256, (64, 64, 3), np.uint8)).save(
            data / f'{i}.JPEG')
    options = [f'{k}={v}' for k, v in OPTIONS.items()] + [
        f'train_dataloader.dataset.data_root={tmp_path / "data"}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.pin_memory=False', 'train_cfg.max_epochs=2',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1']
    converted = tmp_path / 'converted.pth'
    proc = run_tool([CONVERTER, LEGACY, converted, '--config',
                     'configs/mte_dino_vits.py', '--cfg-options',
                     *options[:len(OPTIONS)]])
    count = len(torch.load(LEGACY, weights_only=False)['state_dict'])
    assert proc.stdout.strip() == \
        f'upgrade_mte_checkpoint: {count} tensors -> {converted}'
    proc = run_tool(['tools/train.py', 'configs/mte_dino_vits.py',
                     '--work-dir', tmp_path / 'w', '--resume', converted,
                     '--cfg-options', *options])
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'Epoch(train) [2][2/2]' in log
    assert 'missing keys' not in log and 'unexpected key' not in log
    resumed = torch.load(tmp_path / 'w' / 'epoch_2.pth', weights_only=False)
    assert int(resumed['state_dict']['teacher.steps']) == 4
    assert 'head.center' in resumed['state_dict']

    proc = run_tool(['tools/export_backbone.py', 'configs/mte_dino_vits.py',
                     converted, '--out-dir', tmp_path / 'export',
                     '--cfg-options', *options[:len(OPTIONS)]])
    exported = torch.load(tmp_path / 'export' / 'converted_'
                          'teacher_vit_mmpretrain.pth', weights_only=False)
    old = torch.load(LEGACY, weights_only=False)['state_dict']
    torch.testing.assert_close(exported['state_dict']['cls_token'],
                               old['teacher.module.backbone.cls_token'])

    run_tool(['tools/knn_eval.py', 'configs/mte_dino_vits.py', converted,
              '--data-root', labelled_folder, '--ks', '3', '--resize', '32',
              '--crop', '32', '--num-workers', '0', '--out',
              tmp_path / 'knn.json', '--cfg-options', *options[:len(OPTIONS)]])
    result = json.loads((tmp_path / 'knn.json').read_text())
    assert set(result) == {'global', 'aux_0', 'aux_1', 'pooled_0',
                           'pooled_1', 'pooled', 'ensemble'}


def test_a_checkpoint_of_another_model_is_refused_before_writing(tmp_path):
    out = tmp_path / 'out.pth'
    proc = tool_process([CONVERTER, LEGACY, out, '--config',
                         'configs/mte_dino_vits.py'])  # not the tiny model
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f'upgrade_mte_checkpoint: {LEGACY} does not convert to the model of '
        'the config: missing [')
    assert not out.exists()
