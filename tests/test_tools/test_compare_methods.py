"""tools/analysis_tools/compare_methods.py on a 2-arm x 2-seed grid of 1 epoch
(tiny ViT, generated images): outputs, the controls and the regime line,
agreement with tools/knn_eval.py (a checkpoint, and its control mode),
paired seeds, resuming a killed grid, and errors before training."""
import json
import os
import re
import statistics
import sys

import pytest

from ..conftest import REPO, run_tool, tiny_mte_options
from ..helpers.tool_server import tool_process

sys.path.insert(0, str(REPO / 'tools' / 'analysis_tools'))
import compare_methods  # noqa: E402

CONFIG = str(REPO / 'configs/small/mte_dino_small.py')
TINY = tiny_mte_options() + [
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1']
DINO = ['dino', 'model.backbone.num_aux_tokens=0',
        'model.neck.num_pooled_tokens=0', 'model.distill=None']


def grid_args(data_root, work_dir, arms=(DINO, ['mte']), seeds=(0, 1)):
    args = [CONFIG, '--data-root', str(data_root), '--work-dir',
            str(work_dir), '--epochs', '1', '--ks', '3', '--seeds',
            *map(str, seeds), '--common', *TINY]
    for arm in arms:
        args += ['--arm', *arm]
    return args


@pytest.fixture(scope='module')
def grid(labelled_folder, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('compare')
    results = compare_methods.main(grid_args(labelled_folder, work_dir))
    return work_dir, results


def test_grid_writes_json_markdown_plots(grid):
    work_dir, results = grid
    for name in ('results.json', 'results.md', 'global_knn_vs_epoch.png',
                 'final_knn_per_token.png'):
        assert (work_dir / name).is_file(), name
    assert json.loads((work_dir / 'results.json').read_text())['summary'] \
        == json.loads(json.dumps(results['summary']))
    summary = results['summary']
    assert set(summary) == {'dino', 'mte'}
    assert set(summary['dino']['tokens']) == {'global'}
    assert set(summary['mte']['tokens']) == {
        'global', 'pooled', 'ensemble'} | {
        f'aux_{i}' for i in range(4)} | {f'pooled_{i}' for i in range(4)}
    # the paired difference is the mean of the per-seed differences
    runs = results['runs']
    diffs = [runs['mte'][s]['final']['global']['3'] -
             runs['dino'][s]['final']['global']['3'] for s in ('0', '1')]
    assert summary['mte']['global_vs_baseline']['diffs'] == diffs
    assert summary['mte']['global_vs_baseline']['mean'] == \
        pytest.approx(sum(diffs) / 2)
    table = (work_dir / 'results.md').read_text()
    assert '| mte |' in table and '| dino |' in table
    assert 'Produced by `python tools/analysis_tools/compare_methods.py ' in table


def test_controls_and_the_regime_line(grid, labelled_folder):
    from mte_mm.evaluation import build_knn_datasets
    from mte_mm.evaluation.controls import pixel_knn, regime_line
    work_dir, results = grid
    controls = results['controls']
    # the pixel control: the grid's own images at its resize / crop
    train, val = build_knn_datasets(data_root=str(labelled_folder),
                                    resize=64, crop=64)
    assert controls['pixels'] == {'3': pytest.approx(
        pixel_knn(train, val, ks=(3, ))[3])}
    assert set(controls['untrained']) == {'0', '1'}
    untrained = [controls['untrained'][s]['3'] for s in ('0', '1')]
    assert controls['summary']['untrained dino']['values'] == untrained
    # the regime: the baseline's global token minus the better control
    base = [results['runs']['dino'][s]['final']['global']['3']
            for s in ('0', '1')]
    regime = results['regime']
    better = max(controls['pixels']['3'], statistics.mean(untrained))
    assert regime['margin'] == pytest.approx(statistics.mean(base) - better)
    assert regime['control'] == ('raw pixels' if better ==
                                 controls['pixels']['3'] else 'untrained dino')
    assert regime['learning'] == (regime['margin'] >= 8)
    # dark vs bright noise: brightness is all that tells them apart, and the
    # L2 normalisation of the kNN removes it from raw pixels: chance
    assert controls['pixels']['3'] == 50.0
    lines = (work_dir / 'results.md').read_text().splitlines()
    assert lines[0] == regime_line(regime, 'dino', 3)
    assert ('not a learning regime' in lines[0]) != regime['learning']
    assert any(line.startswith('| raw pixels (control) | 50.0 +- 0.0 |')
               for line in lines)
    assert any(line.startswith('| untrained dino (control) | ')
               for line in lines)
    # kept with their settings: a resumed grid does not compute them again
    for name in ('pixels', 'untrained_seed0', 'untrained_seed1'):
        kept = json.loads((work_dir / 'controls' / f'{name}.json')
                          .read_text())
        assert kept['knn'] == (controls['pixels'] if name == 'pixels' else
                               controls['untrained'][name[-1]])


def test_controls_are_the_knn_tools_at_the_same_seed(grid, labelled_folder,
                                                   tmp_path):
    _, results = grid
    proc = run_tool(['tools/knn_eval.py', CONFIG,
                     '--data-root', labelled_folder, '--untrained', '1', '1',
                     '--pixels', '--num-workers', '0', '--out',
                     tmp_path / 'controls.json',
                     '--ks', '3', '--resize', '64', '--crop', '64',
                     '--cfg-options', *TINY, *DINO[1:]])
    values = [float(v) for v in re.findall(r'^seed 1: k=3 ([\d.]+)$',
                                           proc.stdout, re.M)]
    # the same initial weights at the same seed, in the grid and the tool
    assert values == [round(results['controls']['untrained']['1']['3'], 2)
                      ] * 2
    assert proc.stdout.splitlines()[0] == \
        f'raw pixels: k=3 {results["controls"]["pixels"]["3"]:.2f}'
    kept = json.loads((tmp_path / 'controls.json').read_text())
    assert kept == {'pixels': results['controls']['pixels'],
                    'untrained': {'1': results['controls']['untrained']['1']}}
    # a checkpoint or the controls, and the controls from a folder
    for args, message in (
            ([], 'give a CHECKPOINT, or --untrained SEED ... / --pixels'),
            (['ckpt.pth', '--pixels', '--data-root', labelled_folder],
             'give a CHECKPOINT, or --untrained SEED ... / --pixels'),
            (['--pixels'], '--untrained / --pixels need --data-root')):
        proc = tool_process(['tools/knn_eval.py', CONFIG, *args])
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def eval_tool(tool, run, data_root, out):
    """Run ``tools/<tool>`` on a grid run's final checkpoint at the grid's
    kNN settings; its JSON output."""
    run_tool([f'tools/{tool}', run / 'config.py', run / 'epoch_1.pth',
              '--data-root', data_root, '--ks', '3', '--resize', '64',
              '--crop', '64', '--num-workers', '0', '--out', out])
    return json.loads(out.read_text())


def test_numbers_match_the_knn_tool_on_the_same_checkpoint(
        grid, labelled_folder, tmp_path):
    work_dir, results = grid
    tool = eval_tool('knn_eval.py', work_dir / 'mte' / 'seed1',
                     labelled_folder, tmp_path / 'knn.json')
    final = results['runs']['mte']['1']['final']
    assert set(tool) == set(final)
    for token, accs in tool.items():
        assert accs['3'] == pytest.approx(final[token]['3'], abs=1e-6), token


def test_paired_seeds_same_data_and_reproducible_baseline(
        grid, labelled_folder, tmp_path):
    work_dir, results = grid

    def lines(arm, seed, root=work_dir, name='data_fingerprints.txt'):
        return (root / arm / f'seed{seed}' / name).read_text().splitlines()

    # 12 images, batch 4: 3 batches, the same in both arms at one seed
    assert len(lines('dino', 0)) == 3
    assert lines('dino', 0) == lines('mte', 0)
    assert lines('dino', 1) == lines('mte', 1)
    assert lines('dino', 0) != lines('dino', 1)
    assert results['summary']['mte']['paired_data']
    # the baseline run again from scratch: the same losses, step for step
    again = compare_methods.main(grid_args(labelled_folder, tmp_path,
                                           arms=(DINO, ), seeds=(0, )))

    def losses(root):
        scalars = next((root / 'dino' / 'seed0').rglob('scalars.json'))
        return [r['loss'] for r in map(json.loads,
                                       scalars.read_text().splitlines())
                if 'loss' in r]
    assert len(losses(tmp_path)) == 3
    assert losses(tmp_path) == losses(work_dir)
    assert again['runs']['dino']['0']['final'] == \
        results['runs']['dino']['0']['final']


def test_a_killed_grid_resumes_without_redoing_finished_runs(
        grid, labelled_folder):
    work_dir, results = grid
    # a run killed mid-way: its folder exists, its result marker does not
    killed = work_dir / 'mte' / 'seed1'
    (killed / 'result.json').unlink()
    finished = [work_dir / arm / f'seed{s}' / 'result.json'
                for arm in ('dino', 'mte') for s in (0, 1)
                if (arm, s) != ('mte', 1)]
    stamps = {p: os.stat(p).st_mtime_ns for p in finished}
    rerun = compare_methods.main(grid_args(labelled_folder, work_dir))
    assert {p: os.stat(p).st_mtime_ns for p in finished} == stamps
    assert (killed / 'result.json').is_file()
    # redone from scratch: the same numbers as the first time
    assert rerun['runs']['mte']['1']['final'] == \
        results['runs']['mte']['1']['final']


def test_bad_input_is_named_before_anything_trains(labelled_folder,
                                                   tmp_path):
    def fails(args, match):
        with pytest.raises(SystemExit, match=match):
            compare_methods.main(args)
        assert not any(tmp_path.iterdir())  # nothing trained or written

    fails(grid_args(tmp_path / 'nowhere', tmp_path), 'nowhere/train')
    fails(grid_args(labelled_folder, tmp_path,
                    arms=(DINO, ['bad', 'model.neck.num_pooled_tokenz=2'])),
          "arm 'bad': the model does not build")
    fails(grid_args(labelled_folder, tmp_path,
                    arms=(DINO, ['bad', 'model.nek.num_pooled_tokens=2'])),
          "arm 'bad': key 'model.nek.num_pooled_tokens' is not in")
    fails(grid_args(labelled_folder, tmp_path,
                    arms=(DINO, ['bad', 'model.neck.num_pooled_tokens=-1'])),
          "arm 'bad': the model does not build.*num_pooled_tokens")
    fails(grid_args(labelled_folder, tmp_path, arms=(DINO, DINO)),
          "arm 'dino' given twice")
    fails(grid_args(labelled_folder, tmp_path, arms=(DINO, ['x', 'oops'])),
          "'oops' is not KEY=VALUE")
    fails(grid_args(labelled_folder, tmp_path) + ['--threads', '0'],
          '--threads must be >= 1')


def test_slot_diagnostics_are_logged_and_match_the_tool(grid, labelled_folder,
                                                        tmp_path):
    """The grid logs the slot diagnostics at every evaluation; the ensemble
    gain is ensemble minus global kNN of the same evaluation; and
    tools/analyze_slots.py on the final checkpoint gives the same numbers."""
    work_dir, results = grid
    assert (work_dir / 'diagnostics_vs_epoch.png').is_file()
    final = results['runs']['mte']['1']['curve'][-1]
    diagnostics, knn = final['diagnostics'], final['knn']
    assert diagnostics['ensemble_gain_vs_global_k3'] == pytest.approx(
        knn['ensemble']['3'] - knn['global']['3'])
    assert diagnostics['aux_0/agreement'] * 8 == pytest.approx(
        round(diagnostics['aux_0/agreement'] * 8))
    assert results['runs']['dino']['1']['curve'][-1]['diagnostics'] == {}
    assert 'aux/cos_to_global' in results['summary']['mte']['diagnostics']
    tool = eval_tool('analyze_slots.py', work_dir / 'mte' / 'seed1',
                     labelled_folder, tmp_path / 'slots.json')
    for name, metrics in tool['slots'].items():
        for metric, value in metrics.items():
            assert value == pytest.approx(diagnostics[f'{name}/{metric}'],
                                          abs=1e-6), (name, metric)
    assert tool['ensemble_gain']['vs_global']['3'] == pytest.approx(
        diagnostics['ensemble_gain_vs_global_k3'], abs=1e-6)


def test_two_processes_per_run_match_one_at_the_same_global_batch(
        grid, labelled_folder, tmp_path):
    """--procs-per-run 2 (tools/dist_train.sh, gloo) with half the batch per
    process trains the same weights and reports the same numbers as the
    single-process grid (batch 4)."""
    import torch
    work_dir, results = grid
    args = grid_args(labelled_folder, tmp_path, arms=(['mte'], ),
                     seeds=(0, ))
    args[args.index('train_dataloader.batch_size=4')] = \
        'train_dataloader.batch_size=2'
    two = compare_methods.main(args + ['--procs-per-run', '2'])
    run = tmp_path / 'mte' / 'seed0'
    assert (run / 'data_fingerprints_rank1.txt').is_file()
    assert len((run / 'data_fingerprints.txt').read_text().splitlines()) == 6
    one, both = (torch.load(d / 'mte' / 'seed0' / 'epoch_1.pth',
                            weights_only=False)['state_dict']
                 for d in (work_dir, tmp_path))
    assert one.keys() == both.keys()
    for key in one:
        torch.testing.assert_close(both[key], one[key], atol=1e-5, rtol=1e-4,
                                   msg=key)
    final = results['runs']['mte']['0']['curve'][-1]
    final2 = two['runs']['mte']['0']['curve'][-1]
    assert final2['knn'] == final['knn']
    assert final2['diagnostics'].keys() == final['diagnostics'].keys()
    for name, value in final['diagnostics'].items():
        assert final2['diagnostics'][name] == pytest.approx(value, abs=1e-4)


def test_amp_and_processes_reach_the_command_and_the_run_signature(
        labelled_folder, tmp_path):
    args = compare_methods.parse_args(
        grid_args(labelled_folder, tmp_path) + ['--amp', '--procs-per-run',
                                                '2'])
    command, env = compare_methods.train_command(args, 'cfg.py', 'out')
    assert command == ['bash', str(REPO / 'tools' / 'dist_train.sh'),
                       'cfg.py', '2', '--work-dir', 'out', '--amp']
    assert 20000 <= int(env['PORT']) < 32768
    signature = compare_methods.signature(args, {}, 0)
    assert signature['amp'] is True and signature['procs_per_run'] == 2
    # at the defaults the signature is what older run markers hold
    plain = compare_methods.parse_args(grid_args(labelled_folder, tmp_path))
    assert compare_methods.train_command(plain, 'cfg.py', 'out') == (
        [sys.executable, str(REPO / 'tools' / 'train.py'), 'cfg.py',
         '--work-dir', 'out'], {})
    assert not {'amp', 'procs_per_run'} & set(
        compare_methods.signature(plain, {}, 0))


def test_job_threads_build_their_configs_one_at_a_time(labelled_folder,
                                                        tmp_path,
                                                        monkeypatch):
    """mmengine parses a config with ast, and concurrent parses in threads
    can fail on CPython 3.11: train_one builds under CONFIG_LOCK."""
    held = []

    def record(*args):
        held.append(compare_methods.CONFIG_LOCK.locked())
        raise RuntimeError('stop after the config')

    args = compare_methods.parse_args(grid_args(labelled_folder, tmp_path))
    monkeypatch.setattr(compare_methods, 'run_config', record)
    with pytest.raises(RuntimeError, match='stop after the config'):
        compare_methods.train_one(args, 'mte', [], 0, 1)
    assert held == [True]
