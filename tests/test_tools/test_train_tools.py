"""tools/train.py, test.py, dist_train.sh and dist_test.sh on the tiny config."""
import json

import torch

from ..conftest import free_port, run_tool

TINY = 'configs/tiny/vit_tiny_digits_cls.py'


def test_train_writes_checkpoints_and_validates(tiny_cls_run):
    ckpt = torch.load(tiny_cls_run / 'iter_2.pth', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    assert 'backbone.cls_token' in ckpt['state_dict']
    # the run validated at iteration 2 with the Accuracy metric
    logs = list(tiny_cls_run.glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any('accuracy/top1' in r for r in records)


def _validated(work_dir):
    """The metrics the run logged at its (last) validation."""
    logs = list(work_dir.glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    return [r for r in records if 'accuracy/top1' in r][-1]


def test_test_tool_reports_metric(tiny_cls_run, tmp_path):
    out = tmp_path / 'metrics.json'
    run_tool(['tools/test.py', TINY, tiny_cls_run / 'iter_2.pth',
              '--work-dir', tmp_path, '--out', out])
    metrics = json.loads(out.read_text())
    # the same checkpoint on the same set as the run's own validation at
    # iteration 2 (test_dataloader = val_dataloader)
    assert metrics['accuracy/top1'] == _validated(tiny_cls_run)['accuracy/top1']


def test_dist_train_two_cpu_processes(tmp_path):
    proc = run_tool(['bash', 'tools/dist_train.sh', TINY, '2',
                     '--work-dir', tmp_path],
                    env={'PORT': str(free_port())})
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert "backend='gloo'" in log and 'device_ids=None' in log
    ckpt = torch.load(tmp_path / 'iter_2.pth', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    # A 2-process run and its single-process test agree on the dataset size.
    run_tool(['bash', 'tools/dist_test.sh', TINY, tmp_path / 'iter_2.pth', '2',
              '--work-dir', tmp_path / 'test', '--out', tmp_path / 'm.json'],
             env={'PORT': str(free_port())})
    assert 'accuracy/top1' in json.loads((tmp_path / 'm.json').read_text())
