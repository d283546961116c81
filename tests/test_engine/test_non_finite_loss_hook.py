"""NonFiniteLossGuardHook: a non-finite loss stops a real run before the
update (and before any checkpoint of it), or its step is skipped with the
model state untouched; the finding is the same on every rank."""
import math

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mte_mm  # noqa: F401  (registers the hooks the config names)
from mte_mm.engine.hooks import NonFiniteLossError, NonFiniteLossGuardHook

from ..conftest import REPO, run_gloo_workers, run_tool
from ..helpers.tool_server import tool_process
from ..test_configs.test_pretrain_configs import options


class StudentTempZeroAt(Hook):
    """A one-off non-finite loss: DINO's student temperature 0 for one
    iteration (logits / 0), restored afterwards. Records the model state
    around that iteration."""

    priority = 'HIGHEST'

    def __init__(self, iteration):
        self.iteration = iteration
        self.states = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.states.append(_state(runner))
        if runner.iter + 1 == self.iteration:
            self.temp = runner.model.head.student_temp
            runner.model.head.student_temp = 0.0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration:
            runner.model.head.student_temp = self.temp
            self.losses_at_bad_step = {k: float(v) for k, v in outputs.items()}
        self.states.append(_state(runner))


def _state(runner):
    state = {k: v.detach().clone()
             for k, v in runner.model.state_dict().items()}
    optim = runner.optim_wrapper.optimizer.state_dict()['state']
    state['optimizer_steps'] = sum(
        float(s['step']) for s in optim.values()) if optim else 0.0
    return state


def _equal(a, b):
    return set(a) == set(b) and all(
        torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a)


def build_runner(image_folder, work_dir, guard, max_epochs=2):
    cfg = Config.fromfile(str(REPO / 'configs/mte_dino_vits.py'))
    pairs = dict(p.split('=', 1) for p in options(image_folder, max_epochs))
    cfg.merge_from_dict({k: DictAction._parse_iterable(v)
                         for k, v in pairs.items()})
    cfg.default_hooks.non_finite = guard
    cfg.default_hooks.checkpoint.interval = 100  # no checkpoint needed here
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    return Runner.from_cfg(cfg)


def guard_of(runner):
    return next(h for h in runner.hooks
                if isinstance(h, NonFiniteLossGuardHook))


def test_skip_policy_leaves_the_model_as_it_was(image_folder, tmp_path):
    runner = build_runner(image_folder, tmp_path, dict(
        type='NonFiniteLossGuardHook', policy='skip', max_skips=1))
    probe = StudentTempZeroAt(iteration=2)
    runner.register_hook(probe)
    runner.train()  # 2 epochs x 3 iterations, trained past the bad step
    assert guard_of(runner).skipped == [2]
    # the injection did produce a non-finite loss at iteration 2
    assert not math.isfinite(probe.losses_at_bad_step['loss'])
    states = probe.states  # [before 1, after 1, before 2, after 2, ...]
    assert len(states) == 12
    before, after = states[2], states[3]
    # everything the step could change (student, EMA teacher, DINO centres,
    # optimizer state) is as it was before the skipped iteration ...
    assert _equal(before, after)
    # ... while the steps around it did train
    for i in (0, 4, 10):
        assert not _equal(states[i], states[i + 1])
        assert states[i + 1]['optimizer_steps'] > states[i]['optimizer_steps']
    final = runner.model.state_dict()
    assert all(torch.isfinite(v.float()).all() for v in final.values())


def test_skip_policy_stops_after_max_skips(image_folder, tmp_path):
    runner = build_runner(image_folder, tmp_path, dict(
        type='NonFiniteLossGuardHook', policy='skip', max_skips=0))
    runner.register_hook(StudentTempZeroAt(iteration=2))
    with pytest.raises(NonFiniteLossError,
                       match=r'iteration 2 \(epoch 1.*loss=nan.*after 0 '
                       r'skipped steps'):
        runner.train()


def test_stop_policy_ends_the_run_before_any_checkpoint_of_it(
        image_folder, tmp_path):
    """A good epoch (checkpointed), then a resumed run whose loss is
    non-finite: it exits non-zero with one message, and the good
    checkpoint is still the newest file."""
    run_tool(['tools/train.py', 'configs/mte_dino_vits.py', '--work-dir',
              tmp_path, '--cfg-options', *options(image_folder, 1)])
    good = tmp_path / 'epoch_1.pth'
    assert good.is_file()
    proc = tool_process(
        ['tools/train.py', 'configs/mte_dino_vits.py', '--work-dir', tmp_path,
         '--resume', '--cfg-options', *options(image_folder, 2),
         'model.head.student_temp=0.0'])
    assert proc.returncode == 1, proc.stderr[-3000:]
    message = [line for line in proc.stderr.splitlines()
               if 'non-finite loss' in line]
    assert len(message) == 1 and 'Traceback' not in proc.stderr
    assert message[0].startswith('tools/train.py: non-finite loss at '
                                 'iteration 4 (epoch 2')
    assert 'loss_global=nan' in message[0]
    assert not (tmp_path / 'epoch_2.pth').exists()
    newest = max(tmp_path.glob('*.pth'), key=lambda p: p.stat().st_mtime_ns)
    assert newest == good
    assert (tmp_path / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')
    torch.load(good, weights_only=False)  # intact


def _flags_on_rank(rank):
    log_vars = {'loss': torch.tensor(1.0),
                'loss_aux': torch.tensor(float('nan') if rank else 0.5)}
    return NonFiniteLossGuardHook._non_finite(log_vars)


def test_every_rank_sees_a_non_finite_loss_of_any_rank():
    results = run_gloo_workers(_flags_on_rank)
    assert list(results[0]) == list(results[1]) == ['loss_aux']
    assert math.isnan(results[1]['loss_aux'])
    assert results[0]['loss_aux'] == 0.5  # this rank's own value


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="policy='ignore'"):
        NonFiniteLossGuardHook(policy='ignore')
    with pytest.raises(ValueError, match='max_skips'):
        NonFiniteLossGuardHook(max_skips=-1)
