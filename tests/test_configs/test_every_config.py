"""Every pretraining config we ship, found as ``tools/check_gpu.py`` finds
them (the top of ``configs/``, by glob: a new config is covered without a
list to edit) and reduced as it reduces them (:mod:`mte_mm.utils.quick_check`:
1 block per stage, batch 2, generated images its own dataset accepts), builds
its model, dataset and optimizer through mmengine's Runner and trains one
step in one process under bfloat16 autocast, the path ``--amp`` takes
(:func:`mte_mm.utils.set_amp`; mmengine's ``AmpOptimWrapper`` on CUDA):
the losses are finite, the autocast ran, the master weights stay float32 and
the step moved them. tools/check_gpu.py's own test runs one config in 2
processes."""
import math
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mte_mm.utils import set_amp
from mte_mm.utils.quick_check import (pretraining_configs,
                                      quick_check_config, write_check_images)

from ..conftest import REPO

CONFIGS = pretraining_configs(str(REPO))


def test_configs_are_found_by_glob():
    # what the shipped layout gives today; a new top-level config adds itself
    assert 'configs/mte_dino_vits.py' in CONFIGS
    assert 'configs/byol_resnet50.py' in CONFIGS
    assert len(CONFIGS) == 22
    assert not any(c.startswith(('configs/det/', 'configs/small/'))
                   for c in CONFIGS)


@pytest.fixture(scope='module')
def image_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('check_images'))


def first_compute_layer(backbone):
    for module in backbone.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and \
                module.weight.requires_grad:
            return module
    raise AssertionError('backbone has no trainable Linear / Conv2d')


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_a_bf16_step(config, image_root, tmp_path):
    cfg = Config.fromfile(str(REPO / config))
    data_root = write_check_images(image_root, cfg.train_dataloader.dataset)
    cfg = quick_check_config(cfg, data_root, num_blocks=1, steps=1)
    set_amp(cfg)  # CPU: bfloat16 autocast
    cfg.work_dir = str(tmp_path)
    # the step is checked in memory; a checkpoint (up to 1.4 GB with EMA
    # teachers and optimizer state) would only fill the disk
    cfg.default_hooks.checkpoint = None
    cfg.launcher = 'none'
    cfg.experiment_name = f'{config}_{uuid.uuid4().hex}'
    runner = Runner.from_cfg(cfg)
    model = runner.model
    dtypes = []
    hook = first_compute_layer(model.backbone).register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype))
    before = {name: p.detach().clone()
              for name, p in model.named_parameters() if p.requires_grad}
    runner.train()
    hook.remove()

    assert dtypes and set(dtypes) == {torch.bfloat16}  # autocast ran
    scalars = runner.message_hub.log_scalars
    losses = {key: scalars[key].current() for key in scalars
              if key.startswith('train/loss')}
    assert 'train/loss' in losses and len(losses) > 1, losses
    assert all(math.isfinite(v) for v in losses.values()), losses
    params = dict(model.named_parameters())
    assert all(p.dtype == torch.float32 for p in params.values())
    moved = [name for name, p in before.items()
             if not torch.equal(p, params[name].detach())]
    # the backbone's first layer, and most parameters, took the step (some,
    # e.g. DINO's last layer in epoch 0, are frozen by the recipe)
    first = next(name for name, p in params.items() if p is
                 first_compute_layer(model.backbone).weight)
    assert first in moved
    assert len(moved) > len(before) // 2, (len(moved), len(before))
