"""Exact resumes (ExactResumeHook, ResumableSeededSampler, SeedPerSample):
a real training subprocess SIGKILLed mid-epoch and resumed trains on bit
for bit as the uninterrupted run, from epoch and from mid-epoch checkpoints,
with 0 or 2 data-loader workers, in 1 or 2 gloo processes; and 2 processes
at batch B train as 1 process at batch 2B."""
import json
import pickle

import pytest
import torch
from mmengine.dataset import DefaultSampler

from mte_mm.datasets import ResumableSeededSampler, SeededIndex

from ..conftest import REPO, TINY_MTE_ARCH, free_port
from ..helpers.tool_server import tool_process


def write_config(folder, kill_at=None):
    hooks = ["dict(type='RecordSteps')"]
    if kill_at:
        hooks.append(f"dict(type='KillAtIteration', iteration={kill_at})")
    cfg = folder / f'cfg_kill{kill_at}.py'
    cfg.write_text(
        f"_base_ = ['{REPO}/configs/mte_dino_vits.py']\n"
        "custom_imports = dict(imports=['mte_mm', "
        "'tests.helpers.run_probes'], allow_failed_imports=False)\n"
        f"custom_hooks = [{', '.join(hooks)}]\n")
    return cfg


def options(data_root, workers, by_epoch, batch=2, epochs=3):
    return TINY_MTE_ARCH + [
        f'train_dataloader.dataset.data_root={data_root}',
        f'train_dataloader.batch_size={batch}',
        f'train_dataloader.num_workers={workers}',
        f'train_dataloader.persistent_workers={workers > 0}',
        'train_dataloader.pin_memory=False',
        f'train_cfg.max_epochs={epochs}',
        'default_hooks.logger.interval=1',
        f'default_hooks.checkpoint.by_epoch={by_epoch}',
        f'default_hooks.checkpoint.interval={1 if by_epoch else 2}',
        'default_hooks.checkpoint.max_keep_ckpts=10',
    ]


ENV = {'PYTHONPATH': str(REPO)}


def train(cfg, work_dir, opts, procs=1, resume=False):
    """tools/train.py (or dist_train.sh); returns the exit code."""
    extra = ['--resume'] if resume else []
    if procs == 1:
        cmd = ['tools/train.py', cfg, '--work-dir', work_dir,
               *extra, '--cfg-options', *opts]
    else:
        cmd = ['bash', 'tools/dist_train.sh', cfg, str(procs),
               '--work-dir', work_dir, *extra, '--cfg-options', *opts]
    return tool_process(cmd, env=dict(ENV, PORT=str(free_port())))


def steps(work_dir):
    """{iteration: record}, the last record of each iteration (a resumed
    run appends the iterations it redoes after those of the killed one)."""
    records = {}
    for line in (work_dir / 'steps.jsonl').read_text().splitlines():
        record = json.loads(line)
        records[record['iter']] = record
    return records


def final_state(work_dir):
    last = (work_dir / 'last_checkpoint').read_text().strip()
    return torch.load(last, weights_only=False)['state_dict']


def uninterrupted(image_folder, root, procs, drop_path):
    work_dir = root / f'procs{procs}_droppath{drop_path}'
    proc = train(write_config(root), work_dir,
                 options(image_folder, 0, True, batch=2 // procs) +
                 [f'model.backbone.drop_path_rate={drop_path}'], procs)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work_dir


@pytest.fixture(scope='module')
def reference(image_folder, tmp_path_factory):
    """Uninterrupted 9-iteration runs (3 epochs x 3 steps of global batch
    2, the config's drop-path 0.1 so the model draws random numbers too):
    one process with no data-loader worker, and 2 processes at batch 1."""
    root = tmp_path_factory.mktemp('reference')
    return {procs: uninterrupted(image_folder, root, procs, 0.1)
            for procs in (1, 2)}


# each resume point and each loader kind once, not all 4 combinations (a
# minute more of CI): mid-epoch with worker processes is the hard case
# (their seeds and the batches to skip)
@pytest.mark.parametrize('by_epoch, kill_at, resumed_from, workers', [
    (True, 5, 'resumed epoch: 1, iter: 3', 0),   # epoch_1.pth, killed in 2
    (False, 5, 'resumed epoch: 1, iter: 4', 2),  # iter_4.pth, mid-epoch 2
])
def test_killed_and_resumed_run_equals_the_uninterrupted_one(
        reference, image_folder, tmp_path, by_epoch, kill_at, resumed_from,
        workers):
    opts = options(image_folder, workers, by_epoch) + [
        'model.backbone.drop_path_rate=0.1']
    killed = train(write_config(tmp_path, kill_at), tmp_path, opts)
    assert killed.returncode == -9  # SIGKILL
    resumed = train(write_config(tmp_path), tmp_path, opts, resume=True)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-4000:]
    assert resumed_from in log
    if not by_epoch:
        assert 'epoch 2 starts at its batch 2 of 3' in log
    ours, ref = steps(tmp_path), steps(reference[1])
    assert sorted(ours) == sorted(ref) == list(range(1, 10))
    for it in ref:  # bit-identical losses and parameters, every iteration
        assert ours[it] == ref[it], f'iteration {it} differs'
    state, ref_state = final_state(tmp_path), final_state(reference[1])
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)


def test_killed_and_resumed_two_process_run(reference, image_folder,
                                            tmp_path):
    opts = options(image_folder, 0, False, batch=1) + [
        'model.backbone.drop_path_rate=0.1']
    killed = train(write_config(tmp_path, 5), tmp_path, opts, procs=2)
    assert killed.returncode != 0
    resumed = train(write_config(tmp_path), tmp_path, opts, procs=2,
                    resume=True)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    ours, ref = steps(tmp_path), steps(reference[2])
    assert sorted(ours) == sorted(ref) == list(range(1, 10))
    for it in ref:
        assert ours[it] == ref[it], f'iteration {it} differs'


def test_two_process_reference_is_ddp_with_an_ema_teacher(reference):
    """The 2-process reference (tools/dist_train.sh, gloo) of MTE-DINO:
    world size 2, the EMA teacher stepped once per iteration, the per-slot
    centres (all-reduced) saved with the checkpoint."""
    log = next(reference[2].glob('*/*.log')).read_text()
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    # 6 images, 3 per process, 1 per step: 3 iterations per epoch
    assert 'Epoch(train) [1][3/3]' in log
    state = torch.load(reference[2] / 'epoch_1.pth',
                       weights_only=False)['state_dict']
    assert int(state['teacher.steps']) == 3
    assert state['head.center'].shape == (9, 64)
    assert state['head.center'].abs().sum() > 0


def test_two_processes_train_as_one_with_the_same_global_batch(
        image_folder, tmp_path):
    """DDP parity, 9 steps of MTE-DINO at global batch 2. The data are
    equal (per-sample seeds by position in the global order). Drop-path is
    off: each process draws its own masks (seeded per iteration and rank),
    which no 1-process run can reproduce. What remains different is the
    order of float32 sums: the batch loss is a mean of per-rank means, DDP
    averages the ranks' gradients, the centre all-reduces partial sums.
    That is rounding (~1e-7 relative per operation), and AdamW's steps are
    about lr in size whatever a gradient's magnitude, so it is not
    amplified; rel 1e-5 leaves two orders of magnitude above it."""
    one = steps(uninterrupted(image_folder, tmp_path, 1, 0.0))
    two = steps(uninterrupted(image_folder, tmp_path, 2, 0.0))
    assert sorted(one) == sorted(two)
    for it in one:
        for key, value in one[it]['losses'].items():
            assert two[it]['losses'][key] == pytest.approx(value, rel=1e-5,
                                                           abs=1e-6), \
                (it, key)
        for name, (total, squares) in one[it]['params'].items():
            other = two[it]['params'][name]
            assert other[1] == pytest.approx(squares, rel=1e-5, abs=1e-8)
            assert other[0] == pytest.approx(total, rel=1e-5, abs=1e-5)


def test_sampler_keeps_default_order_and_seeds_by_global_position():
    data = list(range(10))
    ours = ResumableSeededSampler(data, seed=3)
    theirs = DefaultSampler(data, seed=3)
    for epoch in (0, 1):
        ours.set_epoch(epoch)
        theirs.set_epoch(epoch)
        assert [int(i) for i in ours] == list(theirs)
    # 2 ranks at batch 1 see, step by step, one rank's batch of 2, with
    # the same seeds
    one = list(ResumableSeededSampler(data, seed=3))
    ranks = []
    for rank in (0, 1):
        sampler = ResumableSeededSampler(data, seed=3)
        sampler.rank, sampler.world_size = rank, 2
        sampler.num_samples, sampler.total_size = 5, 10
        ranks.append(list(sampler))
    merged = [i for pair in zip(*ranks) for i in pair]
    assert [(int(i), i.seed) for i in merged] == \
        [(int(i), i.seed) for i in one]
    assert len({i.seed for i in one}) == 10
    # a mid-epoch start skips exactly the consumed samples, for that epoch
    ours.set_epoch(1)
    full = list(ours)
    ours.skip(4, epoch=1)
    assert len(ours) == 6 and list(ours) == full[4:]
    ours.set_epoch(2)
    assert len(ours) == 10
    with pytest.raises(ValueError, match='cannot skip 11 of 10'):
        ours.skip(11, epoch=2)
    index = pickle.loads(pickle.dumps(SeededIndex(7, 1234)))
    assert index == 7 and index.seed == 1234
