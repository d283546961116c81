"""tools/setup_env.sh: a bad MTE_TEST_WORKERS or MTE_STACK is named before
anything installs or runs."""
import os
import subprocess

import pytest

from ..conftest import REPO


@pytest.mark.parametrize('value', ['abc', '-1', '2x', ''])
def test_bad_test_workers_is_named_before_any_work(value, tmp_path):
    env = dict(os.environ, MTE_TEST_WORKERS=value,
               MTE_VENV=str(tmp_path / 'venv'))
    proc = subprocess.run(['bash', 'tools/setup_env.sh', 'test'], cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        '[setup_env] error: MTE_TEST_WORKERS must be a whole number of '
        f"workers (got '{value}')")
    assert not (tmp_path / 'venv').exists()  # nothing was installed


@pytest.mark.parametrize('value', ['lite', 'Classic', 'pinned '])
def test_bad_stack_is_named_before_any_work(value, tmp_path):
    env = dict(os.environ, MTE_STACK=value, MTE_VENV=str(tmp_path / 'venv'))
    proc = subprocess.run(['bash', 'tools/setup_env.sh', 'test'], cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "[setup_env] error: MTE_STACK must be pinned or classic (got "
        f"'{value}')")
    assert not (tmp_path / 'venv').exists()
