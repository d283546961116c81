"""tools/device_check.sh, the GPU run kit, as a dry run on this CPU: the same
steps at tiny size, every line in one results file; and its clear failure
where neither the stack nor the wheels are there."""
import os
import re
import stat
import subprocess
import sys

from ..conftest import REPO, write_images


def kit(tmp_path, *args, python=sys.executable, wheels=None, **extra):
    temp = tmp_path / 'tmp'  # check_gpu's temporary work folders go here
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHON=str(python), OMP_NUM_THREADS='1',
               TMPDIR=str(temp), **extra)
    if wheels is not None:
        env['WHEELS'] = str(wheels)
    return subprocess.run(['bash', 'tools/device_check.sh', *args], cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=600)


def test_dry_run_writes_one_results_file(tmp_path):
    out = tmp_path / 'results.txt'
    proc = kit(tmp_path, '--dry-run', '--out', str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = out.read_text().splitlines()
    assert lines[0].startswith('# device_check ') and 'dry run' in lines[0]
    assert any(line.startswith('# torch ') and 'none (CPU)' in line
               for line in lines)
    check = lines.index('## check_gpu')
    headline = lines.index('## headline config at full size')
    assert [line for line in lines[check:headline]
            if line.startswith('[ ok ] train')] == [
        line for line in lines[check:headline] if line.startswith(
            '[ ok ] train configs/mte_dino_vits.py float32 x1, 1 block(s), '
            'batch 2 ') and 's/step, loss ' in line]
    assert len([line for line in lines[check:headline]
                if line.startswith('[ ok ] train')]) == 1
    assert any(line.startswith('       | MTE-DINO')
               for line in lines[check:headline])  # the throughput table
    assert 'check_gpu: 4 passed, 0 failed' in lines[check:headline]
    tail = lines[headline:]
    assert any(line.startswith('[ ok ] train configs/mte_dino_vitb.py float32'
                               ' x1, 1 block(s), batch 2 ') for line in tail)
    assert 'check_gpu: 3 passed, 0 failed' in tail
    assert lines[-1] == f'# device_check: passed, results in {out}'
    # every check passed: check_gpu removed its temporary work folders (a
    # checkpoint per training)
    assert not list((tmp_path / 'tmp').glob('mte_check_*'))
    assert proc.stdout.splitlines()[-1] == lines[-1]  # shown as it runs


def test_no_stack_and_no_wheels_is_named(tmp_path):
    # an interpreter without site-packages: no mmengine, as on a bare node
    bare = tmp_path / 'python'
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(bare.stat().st_mode | stat.S_IEXEC)
    empty = tmp_path / 'wheels'
    empty.mkdir()
    out = tmp_path / 'results.txt'
    proc = kit(tmp_path, '--out', str(out), python=bare, wheels=empty)
    assert proc.returncode == 1
    assert out.read_text().splitlines()[-1] == (
        f'[FAIL] no OpenMMLab stack and no wheels in {empty}: run \'bash '
        "tools/device_check.sh --fetch-wheels' where the package "
        f'registries are reachable, and carry {empty}')


def test_bad_option_is_refused(tmp_path):
    proc = kit(tmp_path, '--dryrun')
    assert proc.returncode == 2 and "(got '--dryrun')" in proc.stderr


def test_study_dry_run_reports_both_arms_and_the_controls(tmp_path):
    """--study: the controlled study of MTE on one GPU, here at tiny size on
    a generated folder: both arms, the raw-pixel and untrained controls and
    the regime line, in the one results file."""
    data = tmp_path / 'data'
    for split, count in (('train', 4), ('val', 2)):
        for seed, label in enumerate(('a', 'b')):
            write_images(data / split / label, count, (0, 256),
                         seed=seed + 10 * count)
    out, study = tmp_path / 'study.txt', tmp_path / 'study'
    proc = kit(tmp_path, '--study', '--dry-run', '--data-root', str(data),
               '--out', str(out), STUDY_DIR=str(study))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0].startswith('# device_check ') and \
        lines[0].endswith(' study (dry run, CPU, tiny)')
    assert (study / 'results.md').read_text() in text
    assert any(line.startswith("Regime: barlowtwins's global token minus "
                               'the better control') for line in lines)
    rows = [line.split(' | ')[0] for line in lines if line.startswith('| ')]
    for arm in ('| barlowtwins', '| mte', '| raw pixels (control)',
                '| untrained barlowtwins (control)'):
        assert arm in rows, rows
    assert re.fullmatch(r'# device_check study: passed in \d+ s, results in '
                        + re.escape(f'{out} and {study}'), lines[-1])


def test_study_without_its_data_is_refused(tmp_path):
    proc = kit(tmp_path, '--study', '--data-root', str(tmp_path / 'none'))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f'device_check: no {tmp_path}/none/train: carry tiny-imagenet-10 '
        'there (cp -r ../shared/data/tiny-imagenet-10 data/) or give '
        '--data-root DIR')
