import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_tool(args, cwd=REPO, timeout=600, env=None):
    """Run a repo tool in a fresh interpreter (as a user would) and return
    the completed process; fail the test with its output if it fails."""
    full_env = dict(os.environ)
    # the venv's bin first, so `python` in the shell scripts is this one
    full_env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}' \
        f'{full_env.get("PATH", "")}'
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env.update(env or {})
    cmd = [sys.executable, *args] if str(args[0]).endswith('.py') else args
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{cmd} exited {proc.returncode}\n--- stdout\n'
                    f'{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}')
    return proc


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
