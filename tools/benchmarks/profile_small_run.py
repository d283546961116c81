"""Where a small pretraining run spends its time: data loading, the model
step and the kNN evaluation, for one or more settings measured side by side.

Each setting is a real ``tools/train.py`` run (a fresh process; logging every
iteration) of ``--epochs`` epochs on ``--data-root`` with the KNNEvalHook of
``compare_methods.py`` after the last epoch. From mmengine's per-iteration
records it reports the mean iteration time, the part of it spent waiting for
data (``data_time``), the kNN evaluation time, and the resulting epochs per
minute at ``--eval-interval`` (one kNN evaluation every that many epochs).
The first iteration of each run (worker start-up, allocation) is left out of
the means. Settings run in interleaved rounds (A, B, A, B, ...) so drift of
the machine hits all alike; the best round of each is reported.

``--concurrent J`` runs J copies of each setting at once, each with
``OMP_NUM_THREADS = cores // J``, as ``compare_methods.py --jobs J`` runs a
grid: the rate that decides how long a study takes (the copies' mean is
reported).

    python tools/benchmarks/profile_small_run.py configs/small/mte_dino_small.py \\
        --data-root ../shared/data/tiny-imagenet-10 --resize 32 --crop 32 \\
        --setting today SOME.KEY=VALUE ... --setting fast [--rounds 2] \\
        [--epochs 1] [--eval-interval 2] [--threads 2] [--concurrent 2]

A setting is a name and ``--cfg-options``-style overrides (none: the config
as is); ``config=PATH`` among them runs that config instead of CONFIG,
and ``repo=PATH`` runs the ``tools/train.py`` and ``mte_mm`` of another
checkout (e.g. a ``git worktree`` of an earlier commit: code versions side
by side).
The ratio column is each setting's epochs per minute over the first
setting's.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile

from _measure import REPO


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--data-root', required=True,
                        help='folder with train/<class>/* and val/<class>/*')
    parser.add_argument('--setting', nargs='+', action='append',
                        metavar=('NAME', 'KEY=VALUE'),
                        help='a setting: a name and config overrides')
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--eval-interval', type=int, default=2,
                        help='epochs per kNN evaluation in the epochs-per-'
                        'minute estimate (default 2)')
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None,
                        help='OMP_NUM_THREADS of each run (default: cores '
                        '// concurrent)')
    parser.add_argument('--concurrent', type=int, default=1,
                        help='copies of each setting run at once (the '
                        'study\'s --jobs; default 1)')
    parser.add_argument('--resize', type=int, default=32)
    parser.add_argument('--crop', type=int, default=32)
    parser.add_argument('--ks', type=int, nargs='+', default=[20])
    return parser.parse_args(argv)


def run_once(args, overrides, work_dir):
    """One training run; returns its per-iteration records and the kNN
    evaluation time."""
    from mmengine.config import Config, DictAction
    config, repo = args.config, REPO
    for pair in overrides:
        if pair.startswith('config='):
            config = pair.split('=', 1)[1]
        elif pair.startswith('repo='):
            repo = osp.abspath(pair.split('=', 1)[1])
            config = osp.join(repo, osp.relpath(osp.abspath(config), REPO))
    overrides = [p for p in overrides
                 if not p.startswith(('config=', 'repo='))]
    cfg = Config.fromfile(config)
    options = {
        'train_dataloader.dataset.data_root': osp.abspath(args.data_root),
        'train_cfg.max_epochs': args.epochs,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': args.epochs + 1,
        'randomness.seed': 0}
    for pair in overrides:
        key, value = pair.split('=', 1)
        options[key] = DictAction._parse_iterable(value)
    cfg.merge_from_dict(options)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(
        type='KNNEvalHook', data_root=osp.abspath(args.data_root),
        interval=args.epochs, ks=list(args.ks), with_aux=True,
        resize=args.resize, crop=args.crop, slot_diagnostics=True)]
    cfg_path = osp.join(work_dir, 'config.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join(
                   [repo] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    out = subprocess.run(
        [sys.executable, osp.join(repo, 'tools', 'train.py'), cfg_path,
         '--work-dir', work_dir], cwd=repo, env=env, capture_output=True,
        text=True)
    if out.returncode != 0:
        raise SystemExit(f'profile_small_run: the run failed:\n'
                         f'{out.stdout[-3000:]}\n{out.stderr[-3000:]}')
    paths = [osp.join(root, name) for root, _, names in os.walk(work_dir)
             for name in names if name == 'scalars.json']
    records = [json.loads(line) for line in open(paths[0])]
    iters = [r for r in records if 'data_time' in r and 'time' in r]
    knn = [r['perf/knn_eval_seconds'] for r in records
           if 'perf/knn_eval_seconds' in r]
    return iters, knn[-1]


def summary(args, iters, knn_seconds):
    steady = iters[1:] or iters
    step = statistics.mean(r['time'] for r in steady)
    data = statistics.mean(r['data_time'] for r in steady)
    per_epoch = len(iters) / args.epochs
    epoch_seconds = per_epoch * step + knn_seconds / args.eval_interval
    return dict(iters_per_epoch=per_epoch, iter_seconds=step,
                data_wait_seconds=data, compute_seconds=step - data,
                knn_seconds=knn_seconds,
                epochs_per_minute=60.0 / epoch_seconds)


def run_copies(args, overrides):
    """``--concurrent`` copies of one setting at once; their mean."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_):
        with tempfile.TemporaryDirectory() as work_dir:
            return summary(args, *run_once(args, overrides, work_dir))

    with ThreadPoolExecutor(args.concurrent) as pool:
        results = list(pool.map(one, range(args.concurrent)))
    return {key: statistics.mean(r[key] for r in results)
            for key in results[0]}


def main(argv=None):
    args = parse_args(argv)
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // args.concurrent)
    settings = args.setting or [['config']]
    best = {}
    for round_ in range(args.rounds):
        for name, *overrides in settings:
            result = run_copies(args, overrides)
            print(f'[round {round_}] {name}: ' + ', '.join(
                f'{k} {v:.3f}' for k, v in result.items()), flush=True)
            if name not in best or result['epochs_per_minute'] > \
                    best[name]['epochs_per_minute']:
                best[name] = result
    first = best[settings[0][0]]['epochs_per_minute']
    print(f'\n{"setting":<14}{"it/epoch":>9}{"s/iter":>8}{"data wait":>10}'
          f'{"compute":>9}{"kNN s":>8}{"epochs/min":>11}{"ratio":>7}')
    for name, *_ in settings:
        r = best[name]
        print(f'{name:<14}{r["iters_per_epoch"]:>9.0f}{r["iter_seconds"]:>8.2f}'
              f'{r["data_wait_seconds"]:>10.2f}{r["compute_seconds"]:>9.2f}'
              f'{r["knn_seconds"]:>8.1f}{r["epochs_per_minute"]:>11.2f}'
              f'{r["epochs_per_minute"] / first:>6.2f}x')
    return best


if __name__ == '__main__':
    main()
