"""tools/setup_env.sh: a bad MTE_TEST_WORKERS or MTE_STACK is named before
anything installs or runs."""
import os
import subprocess

import pytest

from ..conftest import REPO


@pytest.mark.parametrize('variable,value,expected', [
    *[('MTE_TEST_WORKERS', value, 'MTE_TEST_WORKERS must be a whole number '
       f"of workers (got '{value}')") for value in ('abc', '-1', '2x', '')],
    *[('MTE_STACK', value, "MTE_STACK must be pinned or classic (got "
       f"'{value}')") for value in ('lite', 'Classic', 'pinned ')],
])
def test_bad_setting_is_named_before_any_work(variable, value, expected,
                                              tmp_path):
    env = dict(os.environ, MTE_VENV=str(tmp_path / 'venv'))
    env[variable] = value
    proc = subprocess.run(['bash', 'tools/setup_env.sh', 'test'], cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f'[setup_env] error: {expected}'
    assert not (tmp_path / 'venv').exists()  # nothing was installed
