"""Mixed precision and torch.compile for pretraining: bfloat16 autocast on
CPU (AutocastOptimWrapper, what ``tools/train.py --amp`` picks without CUDA)
trains MTE-DINO with finite losses close to float32; ``--amp`` end to end;
the compiled backbones give the eager tokens."""
import copy
import math
import subprocess
import sys

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from mte_mm.engine.optimizers import AutocastOptimWrapper

from ..conftest import REPO, TINY_MTE_ARCH, run_tool
from ..test_models.test_algorithms.test_mte_dino import build

STEPS = 4
LR = 1e-3
# bfloat16 keeps 8 bits of mantissa: the losses (5 to 7 here) agree to a few
# hundredths over these steps (measured: at most 0.035 apart on torch 2.14);
# the tolerance is 0.1, under 2 % of the loss. torch 2.1's CPU bf16 kernels
# (and the math attention it runs there, see AutocastOptimWrapper) round
# further: 0.141 apart on torch 2.1.2, so 0.2 (4 %) there
ABS_TOL = 0.2 if torch.__version__.startswith('2.1.') else 0.1


def batches(batch=4):
    g = torch.Generator().manual_seed(3)
    for _ in range(STEPS):
        views = [torch.randint(0, 256, (batch, 3, 32, 32), generator=g,
                               dtype=torch.uint8) for _ in range(2)]
        views += [torch.randint(0, 256, (batch, 3, 16, 16), generator=g,
                                dtype=torch.uint8) for _ in range(3)]
        yield dict(inputs=views,
                   data_samples=[DataSample() for _ in range(batch)])


def train(model, wrapper_cls, **kwargs):
    torch.manual_seed(0)  # the same drop-path draws in both runs
    wrapper = wrapper_cls(optimizer=torch.optim.AdamW(model.parameters(),
                                                      lr=LR), **kwargs)
    dtypes = []
    hook = model.backbone.layers[0].attn.qkv.register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype))
    losses = [model.train_step(data, wrapper) for data in batches()]
    hook.remove()
    return losses, set(dtypes)


def test_bf16_autocast_on_cpu_is_close_to_fp32():
    fp32_model = build(num_aux=2, num_pooled=2)
    bf16_model = copy.deepcopy(fp32_model)
    fp32, fp32_types = train(fp32_model, OptimWrapper)
    bf16, bf16_types = train(bf16_model, AutocastOptimWrapper)
    assert fp32_types == {torch.float32}
    assert bf16_types == {torch.bfloat16}  # autocast did run the matmuls
    for step_fp32, step_bf16 in zip(fp32, bf16):
        assert set(step_fp32) == set(step_bf16)
        for key, value in step_fp32.items():
            assert math.isfinite(float(step_bf16[key])), key
            assert abs(float(step_bf16[key]) - float(value)) <= ABS_TOL, key
    # the parameters moved alike, and stayed float32 (autocast, not .half()).
    # AdamW moves a weight by about lr per step whatever its gradient's size,
    # so a weight whose tiny gradient changes sign in bfloat16 can end up to
    # 2 x STEPS x lr away; on average they agree far better
    diffs = []
    for (name, a), b in zip(fp32_model.named_parameters(),
                            bf16_model.parameters()):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, atol=2 * STEPS * LR + 1e-4), name
        diffs.append((a - b).abs().flatten())
    # (torch 2.1's CPU bf16 kernels: 1.0e-4 = 0.10 LR measured on 2.1.2)
    assert torch.cat(diffs).mean() < (0.2 if ABS_TOL > 0.1 else 0.1) * LR


def test_float16_autocast_is_refused_on_cpu():
    model = build()
    wrapper = AutocastOptimWrapper(dtype='float16', optimizer=torch.optim.SGD(
        model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match='float16 autocast needs CUDA'):
        model.train_step(next(batches()), wrapper)
    with pytest.raises(ValueError, match="dtype='half'"):
        AutocastOptimWrapper(dtype='half', optimizer=wrapper.optimizer)


@pytest.mark.parametrize('method', ['dino', 'mocov3', 'ibot'])
def test_train_tool_amp_on_cpu(method, image_folder, tmp_path):
    """``--amp`` on every pretraining method's config (tiny models)."""
    from ..test_configs.test_ibot_configs import MASKS_32PX
    from ..test_configs.test_ibot_configs import tiny_config as ibot_tiny
    from ..test_configs.test_mocov3_configs import \
        tiny_config as mocov3_tiny
    options = [*TINY_MTE_ARCH,
               f'train_dataloader.dataset.data_root={image_folder}',
               'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False',
               'train_dataloader.pin_memory=False', 'train_cfg.max_epochs=1',
               'default_hooks.logger.interval=1']
    if method == 'dino':
        config, extra = 'configs/mte_dino_vits.py', ['--cfg-options', *options]
    elif method == 'mocov3':
        config, extra = mocov3_tiny(tmp_path / 'cfg.py',
                                    'configs/mte_mocov3_vits.py',
                                    image_folder, 1), []
    else:
        config, extra = ibot_tiny(tmp_path / 'cfg.py',
                                  'configs/mte_ibot_vits.py', image_folder,
                                  1), MASKS_32PX
    work_dir = tmp_path / 'work'
    proc = run_tool(['tools/train.py', config, '--amp', '--work-dir',
                     work_dir, *extra])
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][3/3]' in log
    assert "type='AutocastOptimWrapper'" in log and "dtype='bfloat16'" in log
    assert 'nan' not in log.split('Epoch(train)', 1)[1]
    assert 'loss_global: ' in log and 'loss_distill: ' in log
    assert (work_dir / 'epoch_1.pth').is_file()
    if method != 'dino':
        return
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--amp', '--amp-dtype',
         'float16', '--work-dir', str(work_dir), *extra], cwd=REPO,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert '--amp-dtype float16 needs CUDA' in proc.stderr


def leaves(value):
    """The tensors in a token entry (a tensor, or a tuple of tensors and
    shapes)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in leaves(item)]
    return []


def test_compiled_backbones_equal_eager():
    eager = build(num_aux=2, num_pooled=2)
    # True: what tools/train.py --compile sets (inductor, static shapes)
    compiled = build(num_aux=2, num_pooled=2, compile_backbone=True)
    compiled.load_state_dict(eager.state_dict())
    # same modules, same checkpoint keys
    assert list(compiled.state_dict()) == list(eager.state_dict())
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator()
                         .manual_seed(0))
    eager.eval()
    compiled.eval()
    # the student's backbone only: the teacher's is the same module type
    # compiled the same way (an inductor compile more of CI time), and its
    # weights equal the student's here, so its numbers would not tell a
    # teacher bound to the student's method; the identity check below does
    with torch.no_grad():
        for source in ('student', ):
            ref = eager.extract_tokens(images, source, True)
            out = compiled.extract_tokens(images, source, True)
            for key in ref:
                if not leaves(ref[key]):  # e.g. the patch grid's shape
                    assert out[key] == ref[key]
                    continue
                pairs = list(zip(leaves(out[key]), leaves(ref[key])))
                assert pairs and all(
                    torch.allclose(a, b, atol=1e-5) for a, b in pairs), (
                        source, key)
    # each backbone compiled its own method: the teacher is not the student
    assert compiled.teacher.module['backbone'].forward_tokens is not \
        compiled.backbone.forward_tokens


#: one shipped config per backbone family (``--compile``'s path: the
#: config's ``model.compile_backbone``), at check size
COMPILE_FAMILIES = {
    'vit': 'configs/mte_dino_vits.py',
    'convnext': 'configs/mte_dino_convnext_tiny.py',
    'swin': 'configs/mte_dino_swin_tiny.py',
    'resnet': 'configs/mte_byol_resnet50.py',
}
#: Every family compiles through dynamo and AOTAutograd (the capture of
#: forward and backward, where torch 2.1 fails two of them), not inductor's
#: code generation: on the 2-core CI machine inductor cost 57 s for ViT (97 s
#: on torch 2.1), 86 s for ConvNeXt, 141 s for Swin, 66 s for ResNet (torch
#: 2.14, clean-clone CI runs, all passing). Inductor's code for the ViT
#: backbone is checked against eager by test_compiled_backbones_equal_eager.


#: where torch.compile itself fails (docs/speed.md says so too)
COMPILE_FAILS = {
    # FeatureMapTokenAdapter: torch 2.1's dynamo stops where its forward
    # resumes after the last-stage hook ("InternalTorchDynamoError: map")
    ('2.1.', 'convnext'): 'torch 2.1 dynamo: InternalTorchDynamoError: map',
    ('2.1.', 'swin'): 'torch 2.1 dynamo: InternalTorchDynamoError: map',
}


@pytest.mark.parametrize('family', sorted(COMPILE_FAMILIES))
def test_compiled_backbone_trains_two_steps(family, tmp_path):
    """Each backbone family compiles (dynamo + AOTAutograd, see
    the note above) and trains 2 steps through the Runner with finite
    losses; the compiled graphs are counted by dynamo, and the student's
    and the teacher's backbones run compiled."""
    import uuid

    import torch._dynamo
    for (version, failing), why in COMPILE_FAILS.items():
        if family == failing and torch.__version__.startswith(version):
            pytest.skip(why)
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mte_mm.utils.quick_check import (quick_check_config,
                                          write_check_images)
    cfg = Config.fromfile(str(REPO / COMPILE_FAMILIES[family]))
    data_root = write_check_images(str(tmp_path / 'data'),
                                   cfg.train_dataloader.dataset)
    cfg = quick_check_config(cfg, data_root, num_blocks=1, steps=2)
    # --compile's options (dynamic=False) with dynamo's AOTAutograd backend
    cfg.model.compile_backbone = dict(dynamic=False, backend='aot_eager')
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.checkpoint = None  # the test reads the run in memory
    cfg.launcher = 'none'
    cfg.experiment_name = f'compile_{family}_{uuid.uuid4().hex}'
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    runner = Runner.from_cfg(cfg)
    model = runner.model
    compiled = [model.backbone.forward_tokens]
    if model.teacher.is_copy:
        compiled.append(model.teacher.module['backbone'].forward_tokens)
    # torch.compile's wrapper keeps the eager method it compiles
    assert all(hasattr(fn, '_torchdynamo_orig_callable') for fn in compiled)
    runner.train()
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] >= 1
    scalars = runner.message_hub.log_scalars
    assert runner.iter == 2
    loss = scalars['train/loss']
    assert len(loss.data[0]) == 2 and all(math.isfinite(v)
                                          for v in loss.data[0])
