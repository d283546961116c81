"""The statistics and report of a paired study
(``tools/analysis_tools/compare_methods.py``): per arm and token, mean +- std
over seeds; each arm's paired difference of the global token to the
baseline's with its 95 % t-interval; the slot diagnostics per kind; the
controls and the regime (``mte_mm.evaluation.controls``); written as
``results.json``, ``results.md`` and three plots, each file atomically.

Its input is what the runner collected: ``runs[arm][seed]`` with ``final``
(``{token: {k: top1}}``), ``curve`` (``[{'epoch', 'knn', 'diagnostics'}]``),
``train_seconds`` and ``fingerprints`` (the run's data fingerprint file),
and ``controls`` (``{'pixels': {k: top1}, 'untrained': {seed: {k:
top1}}}``); ``args`` needs ``seeds``, ``ks``, ``epochs``, ``config`` and
``data_root``."""
import os.path as osp
import statistics


def mean_std(values):
    if len(values) == 1:
        return values[0], 0.0
    return statistics.mean(values), statistics.stdev(values)


def token_order(tokens):
    def key(name):
        kind, _, index = name.partition('_')
        rank = {'global': 0, 'aux': 1, 'pooled': 2, 'ensemble': 3}
        # ``pooled`` (the pooled tokens' mean) after the pooled tokens
        return rank.get(kind, 4), int(index) if index.isdigit() else 10**6
    return sorted(tokens, key=key)


def kind_means(diagnostics, k):
    """The headline diagnostics of one evaluation: the ensemble gain at
    ``k`` and, per slot kind, the mean over its slots of each metric
    (``aux/cos_to_global``, ...), plus each kind's ``pairwise_cos``."""
    summary = {}
    for vs in ('vs_global', 'vs_members'):
        name = f'ensemble_gain_{vs}_k{k}'
        if name in diagnostics:
            summary[f'ensemble_gain_{vs}'] = diagnostics[name]
    per_kind = {}
    for name, value in diagnostics.items():
        if '/' not in name:
            continue
        slot, metric = name.split('/', 1)
        kind = slot.split('_')[0]
        if slot == kind:  # a kind-level metric (pairwise_cos)
            summary[f'{kind}/{metric}'] = value
        else:
            per_kind.setdefault(f'{kind}/{metric}', []).append(value)
    summary.update({name: statistics.mean(values)
                    for name, values in per_kind.items()})
    return summary


def summarise(args, arms, runs):
    from mte_mm.evaluation.controls import t_interval
    k = str(args.ks[0])
    baseline = next(iter(arms))
    base_fp = {seed: read_lines(runs[baseline][seed]['fingerprints'])
               for seed in args.seeds}
    summary = {}
    for arm in arms:
        tokens = token_order(runs[arm][args.seeds[0]]['final'])
        per_token = {}
        for token in tokens:
            values = [runs[arm][s]['final'][token][k] for s in args.seeds]
            per_token[token] = dict(zip(('mean', 'std'), mean_std(values)),
                                    values=values)
        diffs = [runs[arm][s]['final']['global'][k] -
                 runs[baseline][s]['final']['global'][k] for s in args.seeds]
        mean, half = t_interval(diffs)  # the paired differences
        per_seed = [kind_means(runs[arm][s]['curve'][-1].get(
            'diagnostics', {}), k) for s in args.seeds]
        diagnostics = {name: statistics.mean(d[name] for d in per_seed)
                       for name in per_seed[0]
                       if all(name in d for d in per_seed)}
        summary[arm] = dict(
            diagnostics=diagnostics,
            tokens=per_token,
            global_vs_baseline=dict(mean=mean, ci95_half_width=half,
                                    diffs=diffs),
            paired_data=all(read_lines(runs[arm][s]['fingerprints']) ==
                            base_fp[s] for s in args.seeds),
            train_minutes=statistics.mean(
                runs[arm][s]['train_seconds'] for s in args.seeds) / 60)
    return summary


def summarise_controls(args, arms, runs, controls):
    """The controls at the headline k (mean, std and values over seeds) and
    the regime (``mte_mm.evaluation.controls.learning_regime``)."""
    from mte_mm.evaluation.controls import learning_regime
    k = str(args.ks[0])
    baseline = next(iter(arms))
    untrained = [controls['untrained'][s][k] for s in args.seeds]
    rows = {'raw pixels': dict(mean=controls['pixels'][k], std=0.0,
                               values=[controls['pixels'][k]]),
            f'untrained {baseline}': dict(
                zip(('mean', 'std'), mean_std(untrained)), values=untrained)}
    regime = learning_regime(
        [runs[baseline][s]['final']['global'][k] for s in args.seeds],
        {name: row['values'] for name, row in rows.items()})
    return rows, regime


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def write_markdown(args, arms, summary, path, command, controls=None,
                   regime=None):
    from mte_mm.evaluation.controls import regime_line
    k = args.ks[0]
    baseline = next(iter(arms))
    lines = [regime_line(regime, baseline, k), ''] if regime else []
    lines += [
        f'Weighted kNN top-1 (%, k={k}, T=0.07) of the teacher\'s tokens '
        f'after {args.epochs} epochs, mean +- std over seeds '
        f'{" ".join(map(str, args.seeds))}; "vs {baseline}" is the paired '
        'difference of the global token (same seed) with its 95 % '
        't-interval.', '',
        f'| arm | global | vs {baseline} | best aux | best pooled | ensemble '
        '| ensemble gain (vs global / vs members) | cos to global (aux / '
        'pooled) | arg-max agreement (aux / pooled) | paired data '
        '| minutes / run | overrides |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|']

    def fmt(stats):
        return f'{stats["mean"]:.1f} +- {stats["std"]:.1f}'

    for arm, options in arms.items():
        s = summary[arm]
        tokens = s['tokens']
        diff = s['global_vs_baseline']
        vs = '-' if arm == baseline else (
            f'{diff["mean"]:+.1f}' + ('' if diff['ci95_half_width'] is None
                                      else f' +- {diff["ci95_half_width"]:.1f}'))

        def best(kind):
            names = [t for t in tokens if t.startswith(kind + '_')]
            if not names:
                return '-'
            name = max(names, key=lambda t: tokens[t]['mean'])
            return f'{fmt(tokens[name])} ({name})'

        def pair(a, b, spec):
            d = s['diagnostics']
            return ' / '.join(format(d[n], spec) if n in d else '-'
                              for n in (a, b))

        overrides = ' '.join(f'{key}={value}' for key, value in
                             options.items()) or '(config as is)'
        lines.append(
            f'| {arm} | {fmt(tokens["global"])} | {vs} | {best("aux")} | '
            f'{best("pooled")} | '
            f'{fmt(tokens["ensemble"]) if "ensemble" in tokens else "-"} | '
            f'{pair("ensemble_gain_vs_global", "ensemble_gain_vs_members", "+.1f")} | '
            f'{pair("aux/cos_to_global", "pooled/cos_to_global", ".2f")} | '
            f'{pair("aux/agreement", "pooled/agreement", ".2f")} | '
            f'{"yes" if s["paired_data"] else "NO"} | '
            f'{s["train_minutes"]:.1f} | `{overrides}` |')
    for name, row in (controls or {}).items():
        lines.append(f'| {name} (control) | {fmt(row)} |' + ' - |' * 10)
    lines += ['', '"ensemble" is the mean of the normalised features of the '
              'kinds each arm distils (`distill.ensemble`); the diagnostics '
              '(tools/analyze_slots.py) are the teacher\'s on the val '
              'images, means over seeds and over the slots of a kind.', '',
              f'Produced by `{command}`']
    from mte_mm.utils.atomic import atomic_write
    atomic_write(path, '\n'.join(lines) + '\n')
    return '\n'.join(lines)


def save_figure(fig, path, dpi):
    """``fig`` as a PNG at ``path``, written atomically."""
    from mte_mm.utils.atomic import atomic_path
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format='png')


def draw_controls(ax, controls):
    for (name, row), style in zip(controls.items(), (':', '--')):
        ax.axhline(row['mean'], color='gray', linestyle=style, lw=1,
                   label=f'{name} (control)')


def write_plots(args, arms, runs, summary, out_dir, controls=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    k = str(args.ks[0])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in arms:
        curves = [runs[arm][s]['curve'] for s in args.seeds]
        epochs = [point['epoch'] for point in curves[0]]
        values = [[c[i]['knn']['global'][k] for c in curves]
                  for i in range(len(epochs))]
        means = [statistics.mean(v) for v in values]
        stds = [mean_std(v)[1] for v in values]
        line, = ax.plot(epochs, means, marker='o', ms=3, label=arm)
        ax.fill_between(epochs, [m - s for m, s in zip(means, stds)],
                        [m + s for m, s in zip(means, stds)],
                        color=line.get_color(), alpha=0.15)
    draw_controls(ax, controls or {})
    ax.set_xlabel('epoch')
    ax.set_ylabel(f'global token kNN top-1 (%, k={k})')
    ax.set_title(f'mean +- std over {len(args.seeds)} seeds')
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, osp.join(out_dir, 'global_knn_vs_epoch.png'), dpi=120)
    plt.close(fig)

    write_diagnostics_plot(args, arms, runs, out_dir)

    markers = dict(global_='*', aux='o', pooled='s', ensemble='^')
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(arms) + 2), 4.5))
    seen = set()
    for x, arm in enumerate(arms):
        for token, stats in summary[arm]['tokens'].items():
            kind = token.split('_')[0]
            kind = 'global_' if kind == 'global' else kind
            label = kind.rstrip('_') if kind not in seen else None
            seen.add(kind)
            ax.scatter(x, stats['mean'], marker=markers.get(kind, 'x'),
                       s=90 if kind == 'global_' else 30, label=label,
                       color=dict(global_='black', aux='tab:blue',
                                  pooled='tab:orange',
                                  ensemble='tab:green').get(kind, 'gray'),
                       alpha=0.8)
    draw_controls(ax, controls or {})
    ax.set_xticks(range(len(arms)), list(arms), rotation=30, ha='right')
    ax.set_ylabel(f'final kNN top-1 (%, k={k}), mean over seeds')
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, osp.join(out_dir, 'final_knn_per_token.png'), dpi=120)
    plt.close(fig)


def write_diagnostics_plot(args, arms, runs, out_dir):
    """``diagnostics_vs_epoch.png``: per arm (mean over seeds) the ensemble
    gain over the global token and, per slot kind, the cosine to the global
    token and the arg-max agreement, against the epoch."""
    import matplotlib.pyplot as plt
    panels = [('ensemble_gain_vs_global', 'ensemble kNN - global kNN '
               f'(points, k={args.ks[0]})'),
              ('aux/cos_to_global', 'aux: cosine to global'),
              ('pooled/cos_to_global', 'pooled: cosine to global'),
              ('aux/agreement', 'aux: arg-max agreement'),
              ('pooled/agreement', 'pooled: arg-max agreement'),
              ('aux/pairwise_cos', 'aux: cosine between aux tokens')]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    drawn = False
    for ax, (name, title) in zip(axes.flat, panels):
        for arm in arms:
            curves = [runs[arm][s]['curve'] for s in args.seeds]
            points = []
            for i, point in enumerate(curves[0]):
                values = [kind_means(c[i].get('diagnostics', {}),
                                     args.ks[0]).get(name) for c in curves]
                if all(v is not None for v in values):
                    points.append((point['epoch'], statistics.mean(values)))
            if points:
                drawn = True
                ax.plot(*zip(*points), marker='o', ms=3, label=arm)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel('epoch')
        ax.grid(alpha=0.3)
    if drawn:
        axes.flat[0].legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, osp.join(out_dir, 'diagnostics_vs_epoch.png'),
                    dpi=110)
    plt.close(fig)


def write_report(args, arms, runs, controls, command):
    """``results.json``, ``results.md`` and the plots in ``args.work_dir``;
    returns the results dict and the markdown table."""
    summary = summarise(args, arms, runs)
    control_rows, regime = summarise_controls(args, arms, runs, controls)
    results = dict(config=osp.abspath(args.config),
                   data_root=osp.abspath(args.data_root), epochs=args.epochs,
                   seeds=args.seeds, ks=args.ks, arms=arms,
                   runs={arm: {str(s): r for s, r in seed_runs.items()}
                         for arm, seed_runs in runs.items()},
                   summary=summary,
                   controls=dict(pixels=controls['pixels'], untrained={
                       str(s): v for s, v in controls['untrained'].items()},
                       summary=control_rows),
                   regime=regime, command=command)
    from mte_mm.utils.atomic import atomic_json
    atomic_json(osp.join(args.work_dir, 'results.json'), results, indent=1)
    table = write_markdown(args, arms, summary,
                           osp.join(args.work_dir, 'results.md'), command,
                           control_rows, regime)
    write_plots(args, arms, runs, summary, args.work_dir, control_rows)
    return results, table
