"""The CUDA path, checked without a GPU: every pretraining config's model at
check size (as tools/check_gpu.py reduces it) moved to ``'cuda'`` and fed a
batch of its own pipeline runs its data preprocessor, forward and loss under
torch's ``FakeTensorMode``, where tensors carry a device and a shape but no
data, so no driver is needed. An op that mixes a ``'cuda'`` tensor with one
our code made on the CPU (a mask, a position, a centre, a queue, a label, a
random draw that did not take its device from its inputs) raises
``FakeTensorDeviceMismatchError`` here, as it would raise on a GPU.

What fake tensors cannot cover: the backward and the optimizer step (no
autograd through fake tensors here), and values: a ``.item()`` or a branch
on data raises a data-dependent error. The one such branch in the loss path
is mmengine's: its EMA (our teacher) asks ``if self.steps == 0`` of its
step counter, a tensor buffer; here that counter is a host integer, and the
rest of the EMA update runs on the fake device. iBOT's masked-patch loss
selects the masked patches by a boolean index, whose shape depends on the
mask values: for the iBOT configs everything up to that selection (the
data preprocessor with the block masks, every forward, the DINO losses of
every slot) runs on the fake device, and the test asserts the selection is
where it stops."""
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseAveragedModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from torch._subclasses.fake_tensor import (DynamicOutputShapeException,
                                           FakeTensorMode)

from mte_mm.utils.quick_check import (pretraining_configs,
                                      quick_check_config, write_check_images)

from ..conftest import REPO

CONFIGS = pretraining_configs(str(REPO))


def fake_cuda_without_driver() -> bool:
    """Whether this torch makes fake ``'cuda'`` tensors without a driver
    (torch 2.1 initialises CUDA first and raises)."""
    try:
        with FakeTensorMode():
            torch.empty(1, device='cuda')
    except (RuntimeError, AssertionError):
        return False
    return True


pytestmark = pytest.mark.skipif(
    not fake_cuda_without_driver(),
    reason='this torch initialises CUDA to make a fake cuda tensor')


@pytest.fixture(scope='module')
def image_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('check_images'))


def fake_cuda_losses(cfg):
    """The config's loss on one batch, with the model and the batch on a
    fake ``'cuda'`` device."""
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    model = MODELS.build(cfg.model)
    model.train()
    with FakeTensorMode(allow_non_fake_inputs=True):
        model.to('cuda')  # parameters, buffers and the data preprocessor
        for module in model.modules():
            if isinstance(module, BaseAveragedModel):  # see the docstring
                del module._buffers['steps']
                module.steps = 0
        data = model.data_preprocessor(batch, training=True)
        losses = model(**data, mode='loss')
    return model, losses


@pytest.mark.parametrize('config', CONFIGS)
def test_loss_on_fake_cuda_has_no_device_mismatch(config, image_root):
    cfg = Config.fromfile(str(REPO / config))
    data_root = write_check_images(image_root, cfg.train_dataloader.dataset)
    cfg = quick_check_config(cfg, data_root, num_blocks=1, steps=1)
    if cfg.model.type == 'MTEiBOT':  # see the docstring
        with pytest.raises(DynamicOutputShapeException) as info:
            fake_cuda_losses(cfg)
        assert info.traceback[-1].name != 'extra_losses' and any(
            entry.name == 'extra_losses' and 'mte_ibot.py' in str(entry.path)
            for entry in info.traceback)
        return
    model, losses = fake_cuda_losses(cfg)
    assert 'loss_global' in losses
    for name, value in losses.items():
        assert value.device.type == 'cuda', name
    states = list(model.parameters()) + list(model.buffers())
    assert states and all(t.device.type == 'cuda' for t in states)
