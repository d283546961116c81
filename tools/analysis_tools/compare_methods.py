"""Controlled comparison of pretraining arms on an image folder: does MTE move
the global token? Trains every arm x seed at the same budget with
``tools/train.py``, evaluates weighted kNN (DINO protocol) of the teacher's
tokens (global, each auxiliary, each pooled, their ensemble) after every
``--eval-interval`` epochs, and writes

* ``results.json``: every number (per run: kNN and slot diagnostics per
  epoch, the final kNN, training time, whether its data matched the
  baseline's; the controls and the regime);
* ``results.md``: the regime line, mean +- std over seeds per arm and token
  kind, the controls, the paired difference of each arm's global token to
  the baseline's (same seed) with a 95 % t-interval, the ensemble gain and
  the slot diagnostics (``mte_mm.evaluation.slot_diagnostics``);
* ``global_knn_vs_epoch.png`` (mean and a +-1 std band over seeds per arm),
  ``diagnostics_vs_epoch.png`` and ``final_knn_per_token.png``, the
  controls drawn as horizontal lines.

Controls (``mte_mm.evaluation.controls``): the weighted kNN of the raw
pixels (the same train / val images at ``--resize`` / ``--crop``, flattened)
and of the baseline arm's untrained network at every seed (its run's initial
weights). The regime line gives the baseline's global token minus the better
control with its 95 % interval, and says "not a learning regime" when that
margin is under 8 points at the headline k: a difference between arms there
says nothing about representations.

    python tools/analysis_tools/compare_methods.py CONFIG --data-root FOLDER \\
        --arm dino model.backbone.num_aux_tokens=0 \\
            model.neck.num_pooled_tokens=0 model.distill=None \\
        --arm mte --seeds 0 1 2 --epochs 10 --work-dir work_dirs/compare \\
        [--jobs 2] [--ks 20] [--eval-interval 1] [--resize 64 --crop 64]

The first arm is the baseline; an arm is a name and ``--cfg-options``-style
``key=value`` overrides. FOLDER holds ``train/<class>/*`` (pretraining: the
labels are not used) and ``val/<class>/*`` (kNN queries).

Paired seeds: at one seed every arm sees the same data order and the same
augmentation draws (mmengine seeds the sampler and the workers from
``randomness.seed``) and starts every parameter it shares with the baseline
identical (MTE's extra parameters draw from their own stream,
``mte_mm.models.utils.mte_only_rng``). Each run logs a fingerprint of every
batch (``DataFingerprintHook``) and the report says whether they match the
baseline's.

A finished run leaves ``result.json`` in its folder and is not redone; an
unfinished one (a killed grid) is restarted from scratch, so every reported
run is one uninterrupted training. ``--jobs J`` runs J trainings at a time,
each with ``OMP_NUM_THREADS = cores // (J * P)`` (``--threads`` sets it).

``--procs-per-run P`` (> 1) trains each run as a P-process job through
``tools/dist_train.sh`` (torchrun; NCCL on GPUs, gloo on CPU). As in every
mmengine run the config's ``train_dataloader.batch_size`` is per process, so
the global batch is P times it: to compare with a single-process grid at the
same global batch, divide it by P (``--common train_dataloader.batch_size=
...``); the numbers are then the same. With CUDA, job slot j of ``--jobs``
gets GPUs ``j*P .. j*P+P-1`` (``CUDA_VISIBLE_DEVICES``), so ``--jobs 2
--procs-per-run 4`` fills an 8-GPU node.
"""
import argparse
import json
import os
import os.path as osp
import queue
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from study_report import read_lines, write_report

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                    '.tiff', '.webp')
FINGERPRINTS = 'data_fingerprints.txt'
# mmengine's Config.fromfile parses with ast in the calling thread, and
# CPython 3.11 can fail concurrent parses ("SystemError: AST constructor
# recursion depth mismatch"): the job threads build their configs one at a
# time
CONFIG_LOCK = threading.Lock()


# -- arguments and their checks (all before anything trains) --------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('--data-root', required=True,
                        help='folder with train/<class>/* and val/<class>/*')
    parser.add_argument('--arm', nargs='+', action='append', required=True,
                        metavar=('NAME', 'KEY=VALUE'),
                        help='an arm: a name and config overrides; the first '
                        'arm is the baseline')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, required=True)
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--jobs', type=int, default=1,
                        help='trainings at a time (default 1)')
    parser.add_argument('--threads', type=int,
                        help='OMP threads per training process (default: '
                        'the cores split over --jobs x --procs-per-run; '
                        'set it when two grids share a machine)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (tools/train.py --amp)')
    parser.add_argument('--procs-per-run', type=int, default=1,
                        help='processes (GPUs) per training, through '
                        'tools/dist_train.sh; batch_size is per process '
                        '(default 1: tools/train.py)')
    parser.add_argument('--ks', type=int, nargs='+', default=[20],
                        help='kNN k values; the first is the headline')
    parser.add_argument('--eval-interval', type=int, default=1,
                        help='epochs between kNN evaluations')
    parser.add_argument('--resize', type=int, default=64)
    parser.add_argument('--crop', type=int, default=64)
    parser.add_argument('--common', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='overrides applied to every arm')
    return parser.parse_args(argv)


def parse_options(pairs, where):
    """``key=value`` strings -> dict, values parsed as mmengine's
    ``--cfg-options`` parses them."""
    from mmengine.config import DictAction
    options = {}
    for pair in pairs:
        if '=' not in pair:
            raise SystemExit(f'compare_methods: {where}: {pair!r} is not '
                             'KEY=VALUE')
        key, value = pair.split('=', 1)
        options[key] = DictAction._parse_iterable(value)
    return options


def check_folder(data_root):
    for split in ('train', 'val'):
        folder = osp.join(data_root, split)
        if not osp.isdir(folder):
            raise SystemExit(f'compare_methods: no folder {folder} (expected '
                             f'{data_root}/train/<class>/* and '
                             f'{data_root}/val/<class>/*)')
        classes = [c for c in sorted(os.listdir(folder))
                   if osp.isdir(osp.join(folder, c))]
        images = [f for c in classes for f in os.listdir(osp.join(folder, c))
                  if f.lower().endswith(IMAGE_EXTENSIONS)]
        if not classes or not images:
            raise SystemExit(f'compare_methods: {folder} has no '
                             '<class>/<image> files')


def has_key(cfg, dotted):
    """Whether ``dotted`` names a key of ``cfg``, or a new argument of a
    module config there (a dict with ``type``, which the model build then
    checks)."""
    node, parts = cfg.to_dict(), dotted.split(".")
    for i, part in enumerate(parts):
        if isinstance(node, (list, tuple)) and part.isdigit() and \
                int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return i == len(parts) - 1 and isinstance(node, dict) and \
                'type' in node
    return True


def run_config(args, options, seed):
    """The config of one run: the base config, the arm's overrides, the
    seed, the budget, the data root, the kNN and fingerprint hooks."""
    import mte_mm  # noqa: F401  (registers the hooks the run config names)
    from mmengine.config import Config
    from mte_mm.utils import set_max_epochs
    cfg = Config.fromfile(args.config)
    for key in options:
        if not has_key(cfg, key):
            raise KeyError(key)
    cfg.merge_from_dict(options)
    cfg.randomness = dict(seed=seed, deterministic=False)
    set_max_epochs(cfg, args.epochs)
    cfg.train_dataloader.dataset.data_root = osp.abspath(args.data_root)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='KNNEvalHook', data_root=osp.abspath(args.data_root),
             interval=args.eval_interval, ks=tuple(args.ks), with_aux=True,
             resize=args.resize, crop=args.crop, slot_diagnostics=True),
        dict(type='DataFingerprintHook', filename=FINGERPRINTS)]
    return cfg


def check_arms(args):
    """Arms -> {name: options}; every arm's config is built and its model
    constructed, so a bad key or value stops here."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    common = parse_options(args.common, '--common')
    arms = {}
    for arm in args.arm:
        name, pairs = arm[0], arm[1:]
        if '=' in name or not name.replace('_', '').replace('-', '') \
                .replace('.', '').isalnum():
            raise SystemExit(f'compare_methods: arm name {name!r}: use '
                             'letters, digits, "-", "_" or "."')
        if name in arms:
            raise SystemExit(f'compare_methods: arm {name!r} given twice')
        options = dict(common, **parse_options(pairs, f'arm {name!r}'))
        try:
            cfg = run_config(args, options, args.seeds[0])
        except KeyError as exc:
            raise SystemExit(f'compare_methods: arm {name!r}: key {exc} is '
                             f'not in {args.config}') from None
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        try:
            MODELS.build(cfg.model)
        except Exception as exc:
            raise SystemExit(f'compare_methods: arm {name!r}: the model does '
                             f'not build: {type(exc).__name__}: {exc}'
                             ) from None
        arms[name] = options
    return arms


# -- running --------------------------------------------------------------
def gpu_count():
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_dir(args, arm, seed):
    return osp.abspath(osp.join(args.work_dir, arm, f'seed{seed}'))


def signature(args, options, seed):
    sig = dict(config=osp.abspath(args.config), options=options, seed=seed,
               epochs=args.epochs, data_root=osp.abspath(args.data_root),
               ks=args.ks, eval_interval=args.eval_interval,
               resize=args.resize, crop=args.crop)
    # absent at their defaults, so that older markers stay valid
    if args.procs_per_run > 1:
        sig['procs_per_run'] = args.procs_per_run
    if args.amp:
        sig['amp'] = True
    return sig


def control_signature(args, options=None, seed=None):
    sig = dict(data_root=osp.abspath(args.data_root), resize=args.resize,
               crop=args.crop, ks=args.ks)
    if seed is not None:  # the untrained network of the baseline arm
        sig.update(config=osp.abspath(args.config), options=options,
                   seed=seed)
    return sig


def compute_controls(args, arms):
    """The controls (raw pixels; the baseline's untrained network at every
    seed), ``{'pixels': {k: top1}, 'untrained': {seed: {k: top1}}}`` with
    string keys, as the runs' numbers are. Each is kept in
    ``work_dir/controls/`` with its settings and not computed again."""
    from mte_mm.evaluation import build_knn_datasets
    from mte_mm.evaluation.controls import pixel_knn, untrained_knn
    from mte_mm.utils.atomic import atomic_json
    folder = osp.join(args.work_dir, 'controls')
    os.makedirs(folder, exist_ok=True)
    datasets = []

    def cached(name, sig, compute):
        path = osp.join(folder, f'{name}.json')
        if osp.isfile(path):
            with open(path) as f:
                kept = json.load(f)
            if kept['signature'] == sig:
                return kept['knn']
        if not datasets:
            datasets.extend(build_knn_datasets(
                data_root=osp.abspath(args.data_root), resize=args.resize,
                crop=args.crop))
        knn = {str(k): v for k, v in compute(*datasets).items()}
        atomic_json(path, dict(signature=sig, knn=knn), indent=1)
        print(f'[compare_methods] control {name}: kNN '
              f'{knn[str(args.ks[0])]:.1f}', flush=True)
        return knn

    baseline = next(iter(arms))
    pixels = cached('pixels', control_signature(args),
                    lambda train, val: pixel_knn(train, val, ks=args.ks))
    untrained = {}
    for seed in args.seeds:
        cfg = run_config(args, arms[baseline], seed)
        untrained[seed] = cached(
            f'untrained_seed{seed}',
            control_signature(args, arms[baseline], seed),
            lambda train, val: untrained_knn(cfg, seed, train, val,
                                             ks=args.ks))
    return dict(pixels=pixels, untrained=untrained)


def train_command(args, cfg_path, folder):
    """The command line of one run and its extra environment."""
    from mte_mm.utils import free_port
    extra = ['--amp'] if args.amp else []
    if args.procs_per_run == 1:
        return [sys.executable, osp.join(REPO, 'tools', 'train.py'),
                cfg_path, '--work-dir', folder, *extra], {}
    return ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), cfg_path,
            str(args.procs_per_run), '--work-dir', folder, *extra], dict(
                PORT=str(free_port()), PYTHON=sys.executable)


def merge_rank_fingerprints(folder, procs):
    """One fingerprint file for a multi-process run: every rank's lines,
    prefixed by its rank, so two runs compare as one file each."""
    stem, ext = osp.splitext(FINGERPRINTS)
    lines = []
    for rank in range(procs):
        lines += [f'rank{rank} {line}' for line in read_lines(
            osp.join(folder, f'{stem}_rank{rank}{ext}'))]
    from mte_mm.utils.atomic import atomic_write
    atomic_write(osp.join(folder, FINGERPRINTS),
                 ''.join(line + '\n' for line in lines))


def train_one(args, arm, options, seed, threads, slots=None):
    folder = run_dir(args, arm, seed)
    done = osp.join(folder, 'result.json')
    if osp.isfile(done):
        with open(done) as f:
            result = json.load(f)
        if result['signature'] == signature(args, options, seed):
            return result
    if osp.isdir(folder):  # unfinished (or other settings): start over
        shutil.rmtree(folder)
    os.makedirs(folder)
    cfg_path = osp.join(folder, 'config.py')
    with CONFIG_LOCK:
        run_config(args, options, seed).dump(cfg_path)
    command, extra_env = train_command(args, cfg_path, folder)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), **extra_env)
    slot = slots.get() if slots is not None else None
    if slot is not None and gpu_count() > 0:
        first = slot * args.procs_per_run
        env['CUDA_VISIBLE_DEVICES'] = ','.join(
            str(i) for i in range(first, first + args.procs_per_run))
    start = time.time()
    try:
        with open(osp.join(folder, 'train.log'), 'w') as log:
            proc = subprocess.run(command, cwd=REPO, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    finally:
        if slot is not None:
            slots.put(slot)
    seconds = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f'{arm} seed {seed} failed (exit '
                           f'{proc.returncode}); see {folder}/train.log')
    if args.procs_per_run > 1:
        merge_rank_fingerprints(folder, args.procs_per_run)
    result = dict(signature=signature(args, options, seed),
                  curve=read_knn_curve(folder, args.eval_interval),
                  train_seconds=seconds,
                  fingerprints=osp.join(folder, FINGERPRINTS))
    result['final'] = result['curve'][-1]['knn']
    from mte_mm.utils.atomic import atomic_json
    atomic_json(done, result, indent=1)  # the marker appears when complete
    return result


def read_knn_curve(folder, interval):
    """[{'epoch': e, 'knn': {token: {k: top1}}, 'diagnostics': {name:
    value}}] from the run's ``vis_data/scalars.json`` (KNNEvalHook's
    records, in order; ``diagnostics``: its ``diag/`` scalars)."""
    paths = [osp.join(root, name) for root, _, names in os.walk(folder)
             for name in names if name == 'scalars.json']
    if len(paths) != 1:
        raise RuntimeError(f'{folder}: expected one scalars.json, found '
                           f'{len(paths)}')
    curve = []
    with open(paths[0]) as f:
        for line in f:
            record = json.loads(line)
            knn, diagnostics = {}, {}
            for key, value in record.items():
                if key.startswith('knn/'):
                    token, k = key[len('knn/'):].rsplit('_top1_k', 1)
                    knn.setdefault(token, {})[k] = value
                elif key.startswith('diag/'):
                    diagnostics[key[len('diag/'):]] = value
            if knn:
                curve.append(dict(epoch=interval * (len(curve) + 1), knn=knn,
                                  diagnostics=diagnostics))
    if not curve:
        raise RuntimeError(f'{folder}: no kNN records in {paths[0]}')
    return curve


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise SystemExit(f'compare_methods: no config {args.config}')
    if args.epochs < 1 or args.eval_interval < 1 or \
            args.epochs % args.eval_interval:
        raise SystemExit('compare_methods: --epochs must be a positive '
                         'multiple of --eval-interval')
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit('compare_methods: --seeds has repeats')
    if args.jobs < 1 or args.procs_per_run < 1 or \
            (args.threads is not None and args.threads < 1):
        raise SystemExit('compare_methods: --jobs, --procs-per-run and '
                         '--threads must be >= 1')
    gpus = gpu_count()
    if gpus and args.jobs * args.procs_per_run > gpus:
        raise SystemExit(f'compare_methods: --jobs {args.jobs} x '
                         f'--procs-per-run {args.procs_per_run} needs '
                         f'{args.jobs * args.procs_per_run} GPUs; '
                         f'{gpus} visible')
    check_folder(args.data_root)
    arms = check_arms(args)
    os.makedirs(args.work_dir, exist_ok=True)
    controls = compute_controls(args, arms)
    threads = args.threads or max(1, (os.cpu_count() or 1) //
                                  (args.jobs * args.procs_per_run))
    jobs = [(arm, seed) for seed in args.seeds for arm in arms]
    runs = {arm: {} for arm in arms}
    slots = queue.Queue()  # job slots: which GPUs a running job may use
    for slot in range(args.jobs):
        slots.put(slot)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(train_one, args, arm, arms[arm], seed,
                               threads, slots): (arm, seed)
                   for arm, seed in jobs}
        for future, (arm, seed) in futures.items():
            runs[arm][seed] = future.result()
            print(f'[compare_methods] {arm} seed {seed}: global kNN '
                  f'{runs[arm][seed]["final"]["global"][str(args.ks[0])]:.1f}'
                  f' ({runs[arm][seed]["train_seconds"] / 60:.1f} min)',
                  flush=True)
    command = 'python tools/analysis_tools/compare_methods.py ' + ' '.join(
        shlex.quote(a) for a in (argv or sys.argv[1:]))
    results, table = write_report(args, arms, runs, controls, command)
    print(table)
    return results

if __name__ == '__main__':
    main()
