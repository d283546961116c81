"""CPU-only multi-process training with mmengine's ``pytorch`` launcher.

mmengine 0.10.7 assumes CUDA for ``launcher='pytorch'``: ``init_dist`` calls
``torch.cuda.set_device`` and ``Runner.wrap_model`` builds DDP with
``device_ids=[LOCAL_RANK]``, which DDP rejects for a CPU module. When no CUDA
device is present we initialise a gloo process group ourselves (the Runner then
skips ``init_dist``) and wrap with ``device_ids=None``; ``SyncBN`` (which
torch runs on GPUs only) becomes ``mte_mm.CPUSyncBN``, the same statistics
over all processes computed with gloo all-reduces. With CUDA available nothing
is changed.
"""
import gc
import logging
import os
import sys

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

# norm layers that only run on GPUs (torch's SyncBatchNorm, mmcv's MMSyncBN)
GPU_ONLY_SYNC_NORMS = ('SyncBN', 'MMSyncBN')

# set when prepare_cpu_distributed() set up a gloo group for a CPU-only run
_CPU_GROUP = False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, for a launcher's rendezvous,
    below Linux's ephemeral range (32768+): a port from that range can be
    taken as the source port of any outgoing connection (another gloo job's)
    between this check and the bind."""
    import random
    import socket
    for port in random.Random().sample(range(20000, 32768), 200):
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    raise RuntimeError('no free TCP port in 20000-32767')


def prepare_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Set up CPU (gloo) distributed training if there is no CUDA device.

    Args:
        cfg (Config): The run's config; its ``model_wrapper_cfg`` and
            ``env_cfg.dist_cfg`` are adjusted in place.
        launcher (str): The job launcher (``'none'``, ``'pytorch'``, ...).

    Returns:
        bool: Whether a CPU process group is in use.

    Raises:
        RuntimeError: For a launcher other than ``pytorch``, or when the
            environment variables that torchrun sets are missing.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f"launcher={launcher!r} needs CUDA (mmengine calls "
            "torch.cuda.set_device); on a CPU-only machine use "
            "tools/dist_train.sh, i.e. launcher='pytorch', which runs on gloo.")
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(
                f'launcher=pytorch but environment variable {key} is not set; '
                'start the job with torchrun / tools/dist_train.sh')
    global _CPU_GROUP
    _CPU_GROUP = True
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    # None: DDP keeps the module on the CPU instead of a CUDA device index.
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    swapped = replace_sync_norms(cfg.get('model'))
    if swapped:
        print_log(
            f'CPU process group: {swapped} SyncBN layer config(s) use '
            'mte_mm.CPUSyncBN (torch.nn.SyncBatchNorm runs on GPUs only)',
            logger='current')
    return True


def replace_sync_norms(node, new_type: str = 'mte_mm.CPUSyncBN') -> int:
    """Replace GPU-only synchronised norm types in a (model) config, in place.

    Args:
        node: A config node: a dict, a list/tuple of nodes, or a leaf.
        new_type (str): The norm type to use instead.

    Returns:
        int: How many norm configs were changed.
    """
    count = 0
    if isinstance(node, dict):
        if node.get('type') in GPU_ONLY_SYNC_NORMS:
            node['type'] = new_type
            count += 1
        for value in node.values():
            count += replace_sync_norms(value, new_type)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += replace_sync_norms(value, new_type)
    return count


def destroy_distributed() -> None:
    """Tear the process group down before the interpreter exits.

    Left to interpreter shutdown, gloo's worker threads can be destroyed while
    still joinable and abort a rank ("terminate called without an active
    exception") after the run finished its work (seen on this CPU machine).
    Call it after the objects holding the group (the Runner's DDP wrapper)
    are freed; they keep the group alive otherwise.
    """
    gc.collect()
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def exit_after_cpu_distributed() -> None:
    """End a *finished* CPU (gloo) multi-process run without interpreter
    teardown.

    Even after :func:`destroy_distributed`, a rank of a 2-process CPU run
    occasionally aborted during interpreter shutdown ("terminate called
    without an active exception", about 2 in 9 CI runs here), turning a run
    whose results were written into a failure. After flushing logs and
    streams we leave with ``os._exit(0)``, skipping the C++ static
    destructors where that happens. Only for CPU runs set up by
    :func:`prepare_cpu_distributed`; GPU runs exit normally.
    """
    if not _CPU_GROUP:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
