"""tools/check_gpu.py on CPU (what it runs without CUDA): one line per check,
exit code 1 and a line naming the failed check when one fails."""
import re

import numpy as np
import torch

from ..helpers.tool_server import tool_process


def _check(tmp_path, *extra):
    return tool_process(
        ['tools/check_gpu.py', '--configs', 'configs/mte_dino_vits.py',
         '--no-throughput', '--work-dir', tmp_path, *extra])


def test_check_gpu_passes_on_cpu(tmp_path):
    proc = _check(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert re.match(r'\[ ok \] stack torch .* \((ops on cpu|no compiled ops '
                    r'\(mmcv-lite: pretraining only\))\), CPU, gloo', lines[1])
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
