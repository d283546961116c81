"""tools/device_check.sh, the GPU run kit, as a dry run on this CPU: the same
steps at tiny size, every line in one results file; and its clear failure
where neither the stack nor the wheels are there."""
import os
import stat
import subprocess
import sys

from ..conftest import REPO


def kit(tmp_path, *args, python=sys.executable, wheels=None):
    temp = tmp_path / 'tmp'  # check_gpu's temporary work folders go here
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHON=str(python), OMP_NUM_THREADS='1',
               TMPDIR=str(temp))
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
