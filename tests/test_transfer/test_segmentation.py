"""ADE20K UperNet config on a generated ADE20K-format dataset: trains,
evaluates mIoU, loads the exported backbone; layer-wise lr decay."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from ..conftest import (REPO, export_tiny_mte, free_port, run_tool,
                        stock_tool)

pytestmark = pytest.mark.transfer  # mmdet / mmseg

CONFIG = 'configs/seg/upernet_mte_vitb_ade20k_512x512_160k.py'
DIMS, LAYERS = 32, 4
ARCH = {'model.backbone.arch.embed_dims': DIMS,
        'model.backbone.arch.num_layers': LAYERS,
        'model.backbone.arch.num_heads': 2,
        'model.backbone.arch.feedforward_channels': 64}


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    return export_tiny_mte(tmp_path_factory.mktemp('exported'),
                           num_layers=LAYERS)


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    """ADEChallengeData2016 layout: jpg images, png labels 0..150 (0 is
    'other', ignored via reduce_zero_label)."""
    root = tmp_path_factory.mktemp('ade')
    rng = np.random.RandomState(0)
    for split, count in (('training', 3), ('validation', 2)):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i in range(count):
            label = np.kron(rng.randint(0, 151, (4, 4)),
                            np.ones((16, 16), int)).astype(np.uint8)
            image = rng.randint(0, 256, (64, 64, 3)).astype(np.uint8)
            image[..., 0] = label  # make labels learnable from pixels
            Image.fromarray(image).save(root / 'images' / split / f'{i}.jpg')
            Image.fromarray(label).save(
                root / 'annotations' / split / f'{i}.png')
    return root


def tiny_options(exported, ade_root):
    options = [f'{k}={v}' for k, v in ARCH.items()] + [
        'model.backbone.out_indices=[0,1,2,3]',
        f'model.backbone.init_cfg.checkpoint={exported}',
        f'model.neck.in_channels=[{DIMS},{DIMS},{DIMS},{DIMS}]',
        f'model.neck.out_channels={DIMS}',
        f'model.decode_head.in_channels=[{DIMS},{DIMS},{DIMS},{DIMS}]',
        'model.decode_head.channels=16',
        f'model.auxiliary_head.in_channels={DIMS}',
        'model.auxiliary_head.channels=16',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={ade_root}',
                    f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return options


def test_upernet_trains_and_reports_miou(exported, ade_root, tmp_path):
    proc = run_tool(['tools/train.py', CONFIG, '--work-dir', tmp_path,
                     '--cfg-options', *tiny_options(exported, ade_root)])
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported}' in log
    assert 'Iter(train) [2/2]' in log
    assert 'mIoU' in log and (tmp_path / 'iter_2.pth').is_file()
    # and tools/test.py evaluates the trained checkpoint
    out = tmp_path / 'metrics.json'
    run_tool(['tools/test.py', CONFIG, tmp_path / 'iter_2.pth', '--work-dir',
              tmp_path / 'test', '--out', out, '--cfg-options',
              *tiny_options(exported, ade_root)])
    import json
    # the checkpoint's mIoU is the one the run's validation at iteration 2
    # computed from the same weights on the same images
    logs = list(tmp_path.glob('2*/vis_data/scalars.json'))
    validated = [json.loads(line) for line in logs[0].read_text().split('\n')
                 if '"mIoU"' in line][-1]
    assert json.loads(out.read_text())['mIoU'] == validated['mIoU']


def test_stock_mmseg_tools_train_and_test(exported, ade_root, tmp_path):
    """mmseg's own tools/train.py and tools/test.py run our config as is
    (its custom_imports pull in mte_mm and its compat shims)."""
    options = ['--cfg-options', *tiny_options(exported, ade_root)]
    proc = run_tool([stock_tool('mmseg', 'train.py'), CONFIG, '--work-dir',
                     tmp_path, *options])
    log = proc.stdout + proc.stderr
    assert f'Loads checkpoint by local backend from path: {exported}' in log
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log
    proc = run_tool([stock_tool('mmseg', 'test.py'), CONFIG,
                     tmp_path / 'iter_2.pth', '--work-dir', tmp_path / 'test',
                     *options])
    assert 'mIoU' in proc.stdout + proc.stderr


def test_upernet_two_cpu_processes_sync_bn(exported, ade_root, tmp_path):
    """tools/dist_train.sh on gloo: the recipe's SyncBN runs as
    mte_mm.CPUSyncBN (torch's SyncBatchNorm refuses CPU tensors)."""
    proc = run_tool(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
                     tmp_path, '--cfg-options',
                     *tiny_options(exported, ade_root)],
                    env={'PORT': str(free_port())})
    log = proc.stdout + proc.stderr
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'SyncBN layer config(s) use mte_mm.CPUSyncBN' in log
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log
    state = torch.load(tmp_path / 'iter_2.pth',
                       weights_only=False)['state_dict']
    # BN statistics were updated (2 steps) under nn.BatchNorm's names
    assert state['decode_head.bottleneck.bn.num_batches_tracked'] == 2


def build_segmentor(exported, ade_root):
    import mte_mm  # noqa: F401
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(REPO / CONFIG))
    cfg.merge_from_dict(dict(
        o.split('=', 1) for o in tiny_options(exported, ade_root)
        if not o.startswith(('model.neck.in', 'model.decode_head.in',
                             'model.backbone.out_indices'))))
    cfg.merge_from_dict({
        'model.backbone.out_indices': [0, 1, 2, 3],
        'model.backbone.arch.embed_dims': DIMS,
        'model.backbone.arch.num_layers': LAYERS,
        'model.backbone.arch.num_heads': 2,
        'model.backbone.arch.feedforward_channels': 64,
        'model.neck.in_channels': [DIMS] * 4, 'model.neck.out_channels': DIMS,
        'model.decode_head.in_channels': [DIMS] * 4,
        'model.decode_head.channels': 16,
        'model.auxiliary_head.in_channels': DIMS,
        'model.auxiliary_head.channels': 16})
    # a scope for this build only: a global one would leak into later tests
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
        model.init_weights()
    return cfg, model


def test_backbone_after_init_equals_the_export(exported, ade_root):
    from mmpretrain.models.utils import resize_pos_embed
    _, model = build_segmentor(exported, ade_root)
    weights = torch.load(exported, weights_only=False)['state_dict']
    state = model.backbone.state_dict()
    # final_norm=False: dense features are not normed, ln1 is not used
    assert set(weights) - set(state) == {'ln1.weight', 'ln1.bias'}
    for key in set(weights) & set(state):
        value = weights[key]
        if key == 'pos_embed':  # 14 x 14 at 224 px -> 32 x 32 at 512 px
            value = resize_pos_embed(value, (14, 14), (32, 32), 'bicubic', 1)
        torch.testing.assert_close(state[key], value, msg=key)


def test_layer_wise_decay_learning_rates(exported, ade_root):
    from mmengine.optim import build_optim_wrapper
    cfg, model = build_segmentor(exported, ade_root)
    with DefaultScope.overwrite_default_scope('mmseg'):
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of = {}
    for group in optim.optimizer.param_groups:
        for name in group['param_names']:
            lr_of[name] = (group['lr'], group['weight_decay'])
    base, rate = 1e-4, 0.65
    assert lr_of['backbone.patch_embed.projection.weight'] == pytest.approx(
        (base * rate**(LAYERS + 1), 0.05))
    assert lr_of['backbone.layers.1.attn.qkv.weight'] == pytest.approx(
        (base * rate**(LAYERS - 1), 0.05))
    assert lr_of['backbone.layers.1.attn.qkv.bias'] == pytest.approx(
        (base * rate**(LAYERS - 1), 0.0))
    assert lr_of['backbone.pos_embed'][1] == 0.0
    assert lr_of['decode_head.conv_seg.weight'] == pytest.approx((base, 0.05))
