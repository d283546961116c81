"""tools/check_gpu.py on CPU (what it runs without CUDA): one line per check,
exit code 1 and a line naming the failed check when one fails."""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from ..conftest import REPO
from ..helpers.tool_server import tool_process, tool_env

STACK_LINE = (r'\[ ok \] stack torch .* \((ops on cpu|no compiled ops '
              r'\(mmcv-lite: pretraining only\))\), mmengine [\d.]+, '
              r'mmpretrain [\d.]+, mte_mm [\d.]+, (mmdet [\d.]+, mmseg [\d.]+|'
              r'no mmdet / mmseg \(pretraining only\))')


def _check(tmp_path, *extra):
    return tool_process(
        ['tools/check_gpu.py', '--configs', 'configs/mte_dino_vits.py',
         '--no-throughput', '--work-dir', tmp_path, *extra])


def test_check_gpu_passes_on_cpu(tmp_path):
    proc = _check(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert re.match(STACK_LINE + r', CPU, gloo', lines[1])
    assert lines[2].startswith('[ ok ] aux attention: mask-free = dense mask')
    assert lines[3].startswith(
        '[ ok ] train configs/mte_dino_vits.py float32 x2, 1 block(s), '
        'batch 2 ') and ' s/step, loss ' in lines[3]
    assert lines[-1] == 'check_gpu: 3 passed, 0 failed'
    # the run trained its 2 steps of MTE-DINO, finite, and kept its log
    run = tmp_path / 'mte_dino_vits_fp32'
    ckpt = torch.load(run / 'iter_2.pth', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    scalars = ckpt['message_hub']['log_scalars']
    losses = scalars['train/loss_distill'].data[0]
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert (run / 'output.log').is_file()
    # the line reports the run's last step as its checkpoint logged it
    loss = scalars['train/loss'].data[0][-1]
    assert lines[3].split(' s/step, loss ')[1].startswith(f'{loss:.3f} (')


def test_check_gpu_names_a_failed_check(tmp_path):
    # no --work-dir: a temporary folder, kept because a check failed
    proc = tool_process(
        ['tools/check_gpu.py', '--configs', 'configs/mte_dino_vits.py',
         '--no-throughput', '--cfg-options',
         'model.backbone.num_aux_tokens=-1'], env={'TMPDIR': str(tmp_path)})
    assert proc.returncode == 1
    failed = [line for line in proc.stdout.splitlines()
              if line.startswith('[FAIL]')]
    assert len(failed) == 1
    assert failed[0].startswith(
        '[FAIL] train configs/mte_dino_vits.py float32 x2, 1 block(s), batch '
        '2: RuntimeError: exit code 1: ')
    assert 'num_aux_tokens' in failed[0]
    lines = proc.stdout.splitlines()
    assert lines[-2] == 'check_gpu: 2 passed, 1 failed'
    kept, = tmp_path.glob('mte_check_*')
    assert lines[-1] == f'check_gpu: logs of the failed checks kept in {kept}'
    assert 'num_aux_tokens' in (kept / 'mte_dino_vits_fp32' /
                                'output.log').read_text()


def test_stack_only_is_the_light_mode():
    """``--stack-only``: one line, the stack (what tools/setup_env.sh checks
    after an install), on either stack."""
    proc = tool_process(['tools/check_gpu.py', '--stack-only'])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    line, = proc.stdout.splitlines()
    assert re.match(STACK_LINE + r', CPU, gloo \(', line), line


@pytest.mark.transfer  # compiled mmcv ops, so that mmdet is what fails
def test_transfer_requires_mmdet_and_mmseg(tmp_path):
    """``--transfer`` makes mmcv's ops, mmdet and mmseg required. A stack
    without mmdet (a package that is not there, first on the path) passes
    for pretraining and fails with ``--transfer``, naming it."""
    absent = tmp_path / 'mmdet'
    absent.mkdir()
    (absent / '__init__.py').write_text(
        'raise ModuleNotFoundError("No module named \'mmdet\'")\n')
    # a fresh interpreter: the tool server has mmdet imported already
    env = tool_env(dict(PYTHONPATH=f'{tmp_path}:{REPO}'))
    runs = {flag: subprocess.run(
        [sys.executable, 'tools/check_gpu.py', '--stack-only', *flag],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        for flag in ((), ('--transfer', ))}
    plain, transfer = runs[()], runs[('--transfer', )]
    assert plain.returncode == 0, plain.stdout + plain.stderr[-3000:]
    assert 'no mmdet / mmseg (pretraining only)' in plain.stdout
    assert transfer.returncode == 1
    assert transfer.stdout.strip() == (
        "[FAIL] stack (with transfer): ModuleNotFoundError: No module named "
        "'mmdet'")
