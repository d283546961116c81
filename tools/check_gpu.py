"""Self-check of the stack on this node, for a first run on a GPU machine: a
few minutes, one line per check, exit code 1 if any check fails.

    python tools/check_gpu.py [--configs CFG ...] [--gpus N] [--steps 2]
        [--blocks N] [--batch 2] [--jobs 1] [--compile] [--no-throughput]
        [--work-dir DIR] [--cfg-options k=v ...]
    python tools/check_gpu.py --stack-only [--transfer]

``--stack-only``, the light mode (seconds; ``tools/setup_env.sh`` runs it
after an install): only the stack check below, on whatever device there is.
``--transfer`` also requires what transfer to mmdet / mmseg needs: mmcv's
compiled ops and mmdet's and mmseg's models.

With CUDA:
  - the stack: torch's CUDA build sees the GPUs, mmcv's compiled ops (nms,
    RoIAlign) run on one (with mmcv-lite, which has none, this says so and
    passes: pretraining needs no ops), NCCL is available, mmengine,
    mmpretrain and mte_mm import and an MTE backbone gives its tokens, and
    mmdet's and mmseg's models import where they are installed;
  - the auxiliary-token attention: the mask-free path (the one CUDA runs, so
    that the main keys can use flash kernels) equals the dense-mask
    reference on the GPU, in float32 and bfloat16;
  - every pretraining config (the top of ``configs/``, found by glob: each
    ``mte_*.py`` and its baseline) at reduced depth (``--blocks``: 2 blocks
    per stage, a ViT's in all; ResNets keep theirs; widths, heads and crops
    as configured; :mod:`mte_mm.utils.quick_check`, what the every-config
    test trains) trains ``--steps`` iterations on generated images that its
    own dataset accepts, through ``tools/dist_train.sh`` over every visible GPU
    (NCCL), once per mixed precision (``--amp`` with bfloat16 where the GPU
    has it, and float16), with the fast multi-crop preprocessor on the GPU
    and ``torch.compile`` if ``--compile``; a run passes when it exits 0
    (the non-finite guard stops a run whose loss is not finite) and has
    written its checkpoint, and its line gives the last step's seconds and
    loss; ``--jobs`` runs that many at a time;
  - DINO vs MTE-DINO images/s and peak memory at ViT-S/16, batch 64 per GPU
    (``tools/benchmarks/throughput.py``).
Without CUDA the same checks run on the CPU at a tiny size: 2 gloo
processes, float32, 1 block per stage, batch 2, and the throughput benchmark
at batch 2 with 2 local crops. ``tools/device_check.sh`` runs this on a GPU
machine that has torch only.
"""
import argparse
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


class Checks:
    """Runs checks, prints one line each, counts the failures."""

    def __init__(self):
        self.passed = self.failed = 0

    def run(self, name, fn, *args):
        start = time.time()
        try:
            detail = fn(*args)
        except Exception as exc:  # a failed check is a line, not a crash
            self.failed += 1
            message = str(exc).strip().splitlines()
            reason = message[-1] if message else type(exc).__name__
            print(f'[FAIL] {name}: {type(exc).__name__}: {reason}',
                  flush=True)
            if os.environ.get('MTE_CHECK_TRACEBACK'):
                traceback.print_exc()
            return None
        self.passed += 1
        if isinstance(detail, Timed):
            detail, seconds = detail
        else:
            seconds = time.time() - start
        extra = f' {detail}' if detail else ''
        print(f'[ ok ] {name}{extra} ({seconds:.1f} s)', flush=True)
        return detail


class Timed(tuple):
    """A check's detail with the seconds it ran (a check that ran in a
    worker thread, reported later)."""

    def __new__(cls, detail, seconds):
        return super().__new__(cls, (detail, seconds))


def timed(fn):
    """``fn`` whose result is :class:`Timed` by its own run time."""
    def run(*args):
        start = time.time()
        return Timed(fn(*args), time.time() - start)
    return run


# -- the checks -----------------------------------------------------------
def mmcv_ops_detail(device, required=False):
    """mmcv's compiled ops on ``device``, or why there are none (mmcv-lite:
    enough for pretraining; transfer to mmdet / mmseg needs full mmcv, and
    ``required`` makes their absence a failure)."""
    import torch
    try:
        from mmcv.ops import RoIAlign, nms
    except ImportError as exc:
        if '_ext' not in str(exc):
            raise
        if required:
            raise RuntimeError('mmcv has no compiled ops (mmcv-lite); '
                               'transfer to mmdet / mmseg needs full mmcv')
        return 'no compiled ops (mmcv-lite: pretraining only)'
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]], device=device)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=device), 0.5)[1]
    if keep.tolist() != [0, 2]:
        raise RuntimeError(f'mmcv.ops.nms on {device} kept {keep.tolist()}, '
                           'expected [0, 2]')
    feat = torch.arange(16., device=device).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]], device=device)
    pooled = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=2)(feat, rois)
    if not torch.allclose(pooled.flatten(), feat.mean().view(1)):
        raise RuntimeError(f'mmcv.ops.RoIAlign on {device} gave '
                           f'{pooled.flatten().tolist()}, expected '
                           f'[{feat.mean().item()}]')
    return f'ops on {device}'


def pretraining_detail(device):
    """mmengine, mmpretrain and mte_mm versions, after an MTE backbone built
    from the registry gave its auxiliary tokens on ``device``."""
    import mmengine
    import mmpretrain
    import torch
    from mmpretrain.registry import MODELS

    import mte_mm
    backbone = MODELS.build(dict(type='MTEVisionTransformer', arch=dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        img_size=32, patch_size=16, num_aux_tokens=2)).to(device)
    aux = backbone.forward_tokens(torch.zeros(1, 3, 32, 32, device=device))[
        'x_norm_auxtokens']
    if tuple(aux.shape) != (1, 2, 32):
        raise RuntimeError(f'MTEVisionTransformer gave auxiliary tokens of '
                           f'shape {tuple(aux.shape)}, expected (1, 2, 32)')
    return (f'mmengine {mmengine.__version__}, mmpretrain '
            f'{mmpretrain.__version__}, mte_mm {mte_mm.__version__}')


def transfer_detail(required=False):
    """mmdet's and mmseg's versions once their models import, or (unless
    ``required``) that they are not installed."""
    try:
        import mmdet
        import mmseg
    except ImportError:
        if required:
            raise
        return 'no mmdet / mmseg (pretraining only)'
    import mmdet.models  # noqa: F401  (the model zoo imports more deps)
    import mmseg.models  # noqa: F401
    return f'mmdet {mmdet.__version__}, mmseg {mmseg.__version__}'


def check_stack(device, gpus, transfer=False):
    import mmcv
    import torch
    ops = mmcv_ops_detail(device, required=transfer)
    packages = f'{pretraining_detail(device)}, {transfer_detail(transfer)}'
    backend = 'gloo'
    if device == 'cuda':
        if not torch.distributed.is_nccl_available():
            raise RuntimeError('this torch build has no NCCL')
        backend = 'nccl'
        names = sorted({torch.cuda.get_device_name(i) for i in range(gpus)})
        where = f'{gpus} x {", ".join(names)}, CUDA {torch.version.cuda}'
    else:
        where = 'CPU'
    return (f'torch {torch.__version__}, mmcv {mmcv.__version__} ({ops}), '
            f'{packages}, {where}, {backend}')


def check_aux_attention(device):
    """The mask-free auxiliary attention equals the dense-mask reference."""
    import torch

    from mte_mm.models.layers import aux_token_attention as ata
    gen = torch.Generator().manual_seed(0)
    batch, heads, main, aux, dims = 2, 3, 17, 4, 16
    q = torch.randn(batch, heads, aux, dims, generator=gen)
    k = torch.randn(batch, heads, main + aux, dims, generator=gen)
    v = torch.randn(batch, heads, main + aux, dims, generator=gen)
    dtypes = [torch.float32] + ([torch.bfloat16] if device == 'cuda' and
                                torch.cuda.is_bf16_supported() else [])
    worst = []
    for dtype in dtypes:
        args = [t.to(device, dtype) for t in (q, k, v)]
        free = ata.aux_attention(*args, num_main=main, mask_free=True)
        dense = ata.aux_attention(*args, num_main=main, mask_free=False)
        error = (free.float() - dense.float()).abs().max().item()
        tolerance = 1e-5 if dtype == torch.float32 else 2e-2
        if not error <= tolerance:
            raise RuntimeError(f'{dtype}: max |mask-free - dense| = {error:.3g}'
                               f' > {tolerance}')
        worst.append(f'{str(dtype)[6:]} {error:.1e}')
    return 'max diff ' + ', '.join(worst)


def first_error(output):
    """The first exception line of a failed run's output (a rank's, not
    the launcher's summary), else its last line."""
    lines = [re.sub(r'^\[rank\d+\]:\s*', '', line).strip()
             for line in output.splitlines() if line.strip()]
    for line in lines:
        if re.match(r'([\w.]+(Error|Exception)|tools/train\.py): ', line) and \
                'ChildFailedError' not in line:
            return line
    return lines[-1] if lines else 'no output'


def check_training(config, device, gpus, steps, amp_dtype, compile_, work,
                   num_blocks, batch_size, cfg_options):
    from mte_mm.utils.quick_check import (quick_check_config,
                                          write_check_images)
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    # generated images the config's own dataset accepts (ImageNet's 1000
    # class folders included)
    data_root = write_check_images(osp.join(work, 'data'),
                                   cfg.train_dataloader.dataset)
    cfg = quick_check_config(cfg, data_root, num_blocks=num_blocks,
                             steps=steps, batch_size=batch_size,
                             cfg_options=cfg_options)
    name = osp.splitext(osp.basename(config))[0] + f'_{amp_dtype or "fp32"}'
    run_dir = osp.join(work, name)
    os.makedirs(run_dir, exist_ok=True)
    cfg_path = osp.join(run_dir, 'config.py')
    cfg.dump(cfg_path)
    command = ['bash', osp.join(REPO, 'tools/dist_train.sh'), cfg_path,
               str(gpus), '--work-dir', run_dir]
    if amp_dtype:
        command += ['--amp', '--amp-dtype', amp_dtype]
    if compile_:
        command += ['--compile']
    # dist_train.sh runs $PYTHON: this interpreter, activated or not
    from mte_mm.utils import free_port
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=os.pathsep.join(
        [REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
        PORT=str(free_port()))  # runs side by side (--jobs) need their own
    if device == 'cpu':
        env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True,
                          text=True)
    with open(osp.join(run_dir, 'output.log'), 'w') as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f'exit code {proc.returncode}: '
                           f'{first_error(proc.stdout + proc.stderr)} '
                           f'(full output: {run_dir}/output.log)')
    checkpoint = osp.join(run_dir, f'iter_{steps}.pth')
    if not osp.isfile(checkpoint):
        raise RuntimeError(f'no checkpoint {checkpoint} after {steps} steps')
    return step_report(checkpoint)


def step_report(checkpoint):
    """Seconds per step (the last one, the first pays for warm-up and
    compilation) and the final loss, from the run's checkpoint."""
    import torch
    scalars = torch.load(checkpoint, map_location='cpu', weights_only=False)[
        'message_hub']['log_scalars']
    step = scalars['train/time'].data[0][-1]
    loss = scalars['train/loss'].data[0][-1]
    return f'{step:.3f} s/step, loss {loss:.3f}'


def check_throughput(device, compile_):
    command = [sys.executable,
               osp.join(REPO, 'tools/benchmarks/throughput.py')]
    if device == 'cpu':
        command += ['--batch', '2', '--local-crops', '2', '--rounds', '1',
                    '--steps', '1', '--warmup', '1']
    else:
        command += ['--rounds', '1', '--steps', '5', '--warmup', '3']
    if compile_:
        command += ['--compile']
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).strip().splitlines() or ['']
        raise RuntimeError(f'exit code {proc.returncode}: {lines[-1]}')
    table = [line for line in proc.stdout.splitlines()
             if line.startswith(('| DINO', '| MTE-DINO'))]
    return '\n' + '\n'.join('       ' + line for line in table)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', nargs='+',
                        help='pretraining configs (default: every '
                        'configs/mte_*.py and its baseline)')
    parser.add_argument('--gpus', type=int,
                        help='processes per training (default: every visible'
                        ' GPU; 2 on CPU)')
    parser.add_argument('--steps', type=int, default=2)
    parser.add_argument('--blocks', type=int,
                        help='blocks per backbone stage (default: 2 on a GPU,'
                        ' 1 on CPU; 0: as configured, full size)')
    parser.add_argument('--batch', type=int, default=2,
                        help='images per process and step (default: 2)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='trainings run at a time (default: 1; on one '
                        'large GPU a few small ones fit side by side)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the backbones (tools/train.py '
                        '--compile)')
    parser.add_argument('--no-throughput', action='store_true',
                        help='skip the DINO vs MTE-DINO throughput')
    parser.add_argument('--work-dir', help='where the runs go (default: a '
                        'temporary folder)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, metavar='KEY=VALUE',
                        help='overrides for every training config')
    parser.add_argument('--stack-only', action='store_true',
                        help='only the stack check (the light mode)')
    parser.add_argument('--transfer', action='store_true',
                        help='the stack check also requires mmcv\'s ops, '
                        'mmdet and mmseg')
    args = parser.parse_args(argv)
    if args.stack_only:
        return check_stack_only(args.transfer)

    import mte_mm  # noqa: F401  (compat shims + registries)
    import torch

    from mte_mm.utils.quick_check import pretraining_configs
    configs = args.configs or pretraining_configs(REPO)
    for config in configs:
        if not osp.isfile(osp.join(REPO, config)):
            parser.error(f'--configs: no config {config}')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    gpus = args.gpus or (torch.cuda.device_count() if device == 'cuda'
                         else 2)
    if device == 'cuda':
        amp = (['bfloat16'] if torch.cuda.is_bf16_supported() else []) + \
            ['float16']
    else:
        amp = [None]  # float32: bfloat16 is emulated on most CPUs
    work = args.work_dir or tempfile.mkdtemp(prefix='mte_check_')
    failed = None  # unknown until the checks ran
    try:
        failed = run_checks(args, configs, device, gpus, amp, work)
    finally:
        # a temporary folder holds a checkpoint per training (hundreds of MB
        # each): it goes when every check passed or the run was interrupted,
        # and stays, with the logs a failure names, when a check failed
        if not args.work_dir and not failed:
            shutil.rmtree(work, ignore_errors=True)
    if failed and not args.work_dir:
        print(f'check_gpu: logs of the failed checks kept in {work}')
    return 1 if failed else 0


def check_stack_only(transfer):
    import torch
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    gpus = torch.cuda.device_count() if device == 'cuda' else 0
    checks = Checks()
    checks.run('stack' + (' (with transfer)' if transfer else ''),
               check_stack, device, gpus, transfer)
    return 1 if checks.failed else 0


def run_checks(args, configs, device, gpus, amp, work):
    print(f'check_gpu: {device}, {gpus} process(es) per training, '
          f'{len(configs)} config(s), runs in {work}', flush=True)

    checks = Checks()
    checks.run('stack', check_stack, device, gpus, args.transfer)
    checks.run(f'aux attention: mask-free = dense mask on {device}',
               check_aux_attention, device)
    blocks = args.blocks if args.blocks is not None else \
        (1 if device == 'cpu' else 2)
    size = 'full depth' if blocks == 0 else f'{blocks} block(s)'
    runs = []
    for config in configs:
        for dtype in amp:
            label = {None: 'float32', 'bfloat16': 'bf16',
                     'float16': 'fp16'}[dtype]
            name = (f'train {config} {label} x{gpus}, {size}, batch '
                    f'{args.batch}' + (' compiled' if args.compile else ''))
            runs.append((name, (config, device, gpus, args.steps, dtype,
                                args.compile, work, blocks or None,
                                args.batch, args.cfg_options)))
    # in worker threads (each training is its own process); reported in
    # order, each with its own run time
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(timed(check_training), *run_args)
                   for _, run_args in runs]
        for (name, _), future in zip(runs, futures):
            checks.run(name, future.result)
    if not args.no_throughput:
        checks.run('throughput DINO vs MTE-DINO, ViT-S/16'
                   + (' (batch 64 per GPU)' if device == 'cuda' else
                      ' (CPU, batch 2)'), check_throughput, device,
                   args.compile)
    print(f'check_gpu: {checks.passed} passed, {checks.failed} failed')
    return checks.failed


if __name__ == '__main__':
    sys.exit(main())
