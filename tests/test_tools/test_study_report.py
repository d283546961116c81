"""tools/analysis_tools/study_report.py, the statistics and report of a
paired study, on runs written by hand (no training): means over seeds, the
paired differences and their t-interval, the slot diagnostics per kind, the
controls and the regime, and the files it writes."""
import json
import math
import statistics
import sys
from types import SimpleNamespace

import pytest

from ..conftest import REPO

sys.path.insert(0, str(REPO / 'tools' / 'analysis_tools'))
import study_report  # noqa: E402

T_975 = {2: 4.302652729911275, 3: 3.182446305284263}  # df -> t quantile


def run(global_, aux, fingerprints, minutes=2.0, diagnostics=None):
    final = {'global': {'20': global_}, 'aux_0': {'20': aux},
             'ensemble': {'20': aux + 1}}
    return dict(final=final, train_seconds=60 * minutes,
                fingerprints=str(fingerprints),
                curve=[dict(epoch=1, knn=final,
                            diagnostics=diagnostics or {})])


@pytest.fixture
def study(tmp_path):
    data = tmp_path / 'same.txt'
    data.write_text('a\nb\n')
    other = tmp_path / 'other.txt'
    other.write_text('a\nc\n')
    seeds = [0, 1, 2]
    base = [40.0, 38.0, 42.0]
    mte = [42.0, 41.0, 43.0]
    diagnostics = {'aux_0/cos_to_global': 0.5, 'aux_1/cos_to_global': 0.7,
                   'aux/pairwise_cos': 0.2,
                   'ensemble_gain_vs_global_k20': 1.5}
    runs = {'base': {s: run(b, b - 5, data) for s, b in zip(seeds, base)},
            'mte': {s: run(m, m - 2, data if s else other, minutes=3,
                           diagnostics=diagnostics)
                    for s, m in zip(seeds, mte)}}
    args = SimpleNamespace(seeds=seeds, ks=[20], epochs=1,
                           config=str(tmp_path / 'c.py'),
                           data_root=str(tmp_path), work_dir=str(tmp_path))
    arms = {'base': {'model.distill': None}, 'mte': {}}
    controls = {'pixels': {'20': 29.6},
                'untrained': {s: {'20': u} for s, u in
                              zip(seeds, [26.0, 24.0, 28.0])}}
    return args, arms, runs, controls, (base, mte)


def test_summary_is_means_paired_differences_and_their_interval(study):
    args, arms, runs, _, (base, mte) = study
    summary = study_report.summarise(args, arms, runs)
    tokens = summary['mte']['tokens']
    assert list(tokens) == ['global', 'aux_0', 'ensemble']
    assert tokens['global']['mean'] == pytest.approx(statistics.mean(mte))
    assert tokens['global']['std'] == pytest.approx(statistics.stdev(mte))
    diffs = [m - b for m, b in zip(mte, base)]
    vs = summary['mte']['global_vs_baseline']
    assert vs['diffs'] == diffs
    assert vs['mean'] == pytest.approx(statistics.mean(diffs))
    assert vs['ci95_half_width'] == pytest.approx(
        T_975[2] * statistics.stdev(diffs) / math.sqrt(3))
    # seed 0 of mte saw other data than the baseline's seed 0
    assert summary['base']['paired_data'] and \
        not summary['mte']['paired_data']
    assert summary['mte']['train_minutes'] == pytest.approx(3.0)
    assert summary['mte']['diagnostics'] == {
        'ensemble_gain_vs_global': 1.5, 'aux/pairwise_cos': 0.2,
        'aux/cos_to_global': pytest.approx(0.6)}


def test_controls_and_regime(study):
    args, arms, runs, controls, (base, _) = study
    rows, regime = study_report.summarise_controls(args, arms, runs, controls)
    assert rows['raw pixels']['mean'] == 29.6
    assert rows['untrained base']['values'] == [26.0, 24.0, 28.0]
    # the better control is the pixels; base - 29.6 per seed
    margins = [b - 29.6 for b in base]
    assert regime['control'] == 'raw pixels'
    assert regime['margin'] == pytest.approx(statistics.mean(margins))
    assert regime['learning'] is True  # 10.4 >= 8


def test_token_order_and_kind_means():
    assert study_report.token_order(
        ['ensemble', 'pooled', 'pooled_1', 'aux_10', 'aux_2', 'global',
         'pooled_0']) == ['global', 'aux_2', 'aux_10', 'pooled_0',
                          'pooled_1', 'pooled', 'ensemble']
    assert study_report.kind_means(
        {'pooled_0/js': 0.1, 'pooled_1/js': 0.3, 'pooled/pairwise_cos': 0.9,
         'ensemble_gain_vs_members_k10': -1.0,
         'ensemble_gain_vs_members_k20': 2.0}, 20) == {
        'ensemble_gain_vs_members': 2.0, 'pooled/pairwise_cos': 0.9,
        'pooled/js': pytest.approx(0.2)}


def test_write_report_writes_every_file_whole(study, tmp_path):
    args, arms, runs, controls, _ = study
    results, table = study_report.write_report(args, arms, runs, controls,
                                               'python x.py --y')
    names = sorted(p.name for p in tmp_path.iterdir())
    assert {'results.json', 'results.md', 'global_knn_vs_epoch.png',
            'final_knn_per_token.png',
            'diagnostics_vs_epoch.png'} <= set(names)
    assert not [n for n in names if '.tmp.' in n]  # no temporary left
    assert json.loads((tmp_path / 'results.json').read_text()) == \
        json.loads(json.dumps(results))
    assert (tmp_path / 'results.md').read_text() == table + '\n'
    lines = table.splitlines()
    assert lines[0].startswith('Regime: base\'s global token minus the '
                               'better control (raw pixels, 29.6)')
    assert '| mte | 42.0 +- 1.0 | +2.0 +- ' in table
    assert '| raw pixels (control) | 29.6 +- 0.0 |' in table
    assert '| NO |' in table  # mte's unpaired data is shown
    assert lines[-1] == 'Produced by `python x.py --y`'
