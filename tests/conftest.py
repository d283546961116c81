import os
import sys
import time
from pathlib import Path
from queue import Empty

import pytest

from .helpers.tool_server import close_server, tool_process

REPO = Path(__file__).resolve().parents[1]

if os.environ.get('PYTEST_XDIST_WORKER'):
    # pytest-xdist (tools/setup_env.sh test): the workers share the cores
    import torch
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(
        os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))))


def run_tool(args, cwd=REPO, timeout=600, env=None):
    """Run a repo tool as a user would (``python TOOL ARGS`` or a shell
    script) and return the completed process; fail the test with its output
    if it fails. A ``.py`` tool runs in a child of the pre-imported tool
    server, which stands for a fresh interpreter
    (:mod:`tests.helpers.tool_server`)."""
    proc = tool_process(args, cwd=cwd, env=env, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{proc.args} exited {proc.returncode}\n--- stdout\n'
                    f'{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}')
    return proc


def pytest_sessionfinish(session, exitstatus):
    close_server()


def stock_tool(package, name):
    """A stock OpenMMLab tool as its wheel ships it (``<pkg>/.mim/tools``,
    what ``mim train`` runs), e.g. ``stock_tool('mmdet', 'train.py')``."""
    import importlib
    path = Path(importlib.import_module(package).__file__).parent / '.mim' \
        / 'tools' / name
    assert path.is_file(), f'{package} wheel has no {path}'
    return path


def free_port():
    """A free rendezvous port (:func:`mte_mm.utils.free_port`)."""
    from mte_mm.utils import free_port as _free_port
    return _free_port()


#: what a gloo worker has done, as it reports it (``stages[rank]``)
GLOO_STAGES = ('not started', 'spawned', 'in the process group',
               'fn returned', 'answer sent')


def _gloo_worker(rank, world_size, port, fn, args, queue, collected,
                 stages, dump_at):
    import faulthandler
    import traceback

    import torch.distributed as dist
    stages[rank] = 1
    # a rank still running when the parent gives up prints where it is
    # (stderr, shown with the failed test)
    faulthandler.dump_traceback_later(max(1.0, dump_at - time.time()))
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=world_size)
    stages[rank] = 2
    try:
        result = fn(rank, *args)
        stages[rank] = 3
    except Exception:  # hand the traceback to the test instead of hanging
        result = RuntimeError(traceback.format_exc())
    queue.put((rank, result))
    # Flush the answer now. The process group is not destroyed: on torch
    # 2.1.2 under load, destroy_process_group() hung now and then with the
    # GIL held, so the queue's feeder thread never sent the answer. The
    # process ends with os._exit once every rank has answered (no rank
    # still uses the group) and the parent has what it needs.
    queue.close()
    queue.join_thread()
    stages[rank] = 4
    faulthandler.cancel_dump_traceback_later()
    # tensors in the queue are shared through this process: stay alive until
    # the parent has unpickled them (exiting first made the parent fail with
    # FileNotFoundError on a loaded machine)
    deadline = time.monotonic() + 300
    while not collected.value and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(0)


def run_gloo_workers(fn, *args, world_size=2, timeout=120):
    """Run ``fn(rank, *args)`` in ``world_size`` spawned processes that form
    one gloo process group; return ``{rank: result}``. ``fn`` must be a
    module-level function (it is pickled). A rank that dies, or does not
    answer within ``timeout`` s, fails the test with every rank's stage
    (:data:`GLOO_STAGES`) and the stack of a rank that still runs."""
    import torch.multiprocessing as mp
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    # a flag the ranks poll, not an Event: Event.set() waits for every
    # waiting process to wake, forever if one of them was killed
    collected = ctx.Value('b', 0)
    stages = ctx.Array('i', world_size)
    port = free_port()
    procs = [ctx.Process(target=_gloo_worker,
                         args=(rank, world_size, port, fn, args, queue,
                               collected, stages, time.time() + timeout - 3))
             for rank in range(world_size)]
    for proc in procs:
        proc.start()
    results = {}
    deadline = time.monotonic() + timeout
    try:
        while len(results) < len(procs):
            try:
                rank, result = queue.get(timeout=1)
                results[rank] = result
                continue
            except Empty:
                pass
            # a rank that died without answering (a crash, not an
            # exception) would leave the others waiting: name it at once
            dead = [f'rank {rank} exit code {proc.exitcode}'
                    for rank, proc in enumerate(procs)
                    if rank not in results and proc.exitcode is not None]
            if dead or time.monotonic() > deadline:
                time.sleep(5)  # the stack dumps of the ranks still running
                where = ', '.join(f'rank {rank}: {GLOO_STAGES[stage]}'
                                  for rank, stage in enumerate(stages[:]))
                for proc in procs:
                    proc.terminate()
                pytest.fail(f'gloo workers (port {port}): {dead or "no answer"}'
                            f' after {len(results)} of {len(procs)} answered;'
                            f' {where}')
    finally:
        collected.value = 1
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    for rank, result in results.items():
        if isinstance(result, Exception):
            pytest.fail(f'rank {rank} failed:\n{result}')
    return results


@pytest.fixture(scope='session')
def repo():
    return REPO


@pytest.fixture(scope='session')
def tiny_cls_run(tmp_path_factory):
    """A 2-iteration tools/train.py run of the tiny classifier config."""
    work_dir = tmp_path_factory.mktemp('tiny_cls')
    run_tool(['tools/train.py', 'configs/tiny/vit_tiny_digits_cls.py',
              '--work-dir', work_dir])
    return work_dir


def tiny_mte_options(num_layers=2):
    """--cfg-options for an MTE-DINO ViT of 32 dims with a tiny head."""
    return [
        'model.backbone.arch.embed_dims=32',
        f'model.backbone.arch.num_layers={num_layers}',
        'model.backbone.arch.num_heads=2',
        'model.backbone.arch.feedforward_channels=64',
        'model.neck.in_channels=32', 'model.neck.projector.in_channels=32',
        'model.neck.projector.out_channels=64',
        'model.neck.projector.hidden_channels=32',
        'model.neck.projector.bottleneck_channels=16',
        'model.head.out_channels=64']


TINY_MTE_ARCH = tiny_mte_options() + ['model.backbone.patch_size=32']


def write_images(folder, count, value_range, seed):
    """``count`` random 64x64 JPEGs with pixel values in ``value_range``."""
    import numpy as np
    from PIL import Image
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.randint(*value_range, (64, 64, 3)).astype(
            np.uint8)).save(folder / f'{i}.JPEG')


@pytest.fixture(scope='session')
def image_folder(tmp_path_factory):
    """6 random 64x64 JPEGs in ImageNet layout (labels unused by
    pretraining): 3 iterations at batch 2."""
    root = tmp_path_factory.mktemp('synthetic_imagenet')
    for wnid in ('n0001', 'n0002'):
        write_images(root / 'train' / wnid, 3, (0, 256),
                     seed=int(wnid[1:]))
    return root


@pytest.fixture(scope='session')
def labelled_folder(tmp_path_factory):
    """ImageNet-style train/val folders of two easily told-apart classes
    (dark and bright noise images)."""
    root = tmp_path_factory.mktemp('labelled')
    for split, count in (('train', 6), ('val', 4)):
        write_images(root / split / 'dark', count, (0, 90), seed=len(split))
        write_images(root / split / 'bright', count, (165, 256),
                     seed=10 + len(split))
    return root


def export_tiny_mte(out_dir, num_layers=2, embed_dims=32):
    """Save a tiny randomly initialised MTE-DINO checkpoint (224 px, 16 px
    patches unless overridden) and export its teacher with
    tools/export_backbone.py; returns the plain mmpretrain ViT path."""
    import sys

    import torch
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmpretrain.registry import MODELS
    sys.path.insert(0, str(REPO / 'tools'))
    import export_backbone
    cfg = Config.fromfile(str(REPO / 'configs/mte_dino_vits.py'))
    cfg.merge_from_dict({
        'model.backbone.arch.embed_dims': embed_dims,
        'model.backbone.arch.num_layers': num_layers,
        'model.backbone.arch.num_heads': 2,
        'model.backbone.arch.feedforward_channels': 2 * embed_dims,
        'model.neck.in_channels': embed_dims,
        'model.neck.projector.in_channels': embed_dims,
        'model.neck.projector.out_channels': 64,
        'model.neck.projector.hidden_channels': 32,
        'model.neck.projector.bottleneck_channels': 16,
        'model.head.out_channels': 64})
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, out_dir / 'mte.pth')
    return export_backbone.export(cfg, str(out_dir / 'mte.pth'),
                                  str(out_dir))['mmpretrain']


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'transfer: needs mmdet / mmseg and compiled mmcv ops (the '
        'pinned stack); the classic pretraining-only leg deselects it')
