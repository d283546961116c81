import pytest
import torch
from mmengine.config import Config

from mte_mm.utils import prepare_cpu_distributed


def _cfg():
    return Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl')),
                       find_unused_parameters=True))


def test_non_distributed_or_cuda_runs_are_untouched(monkeypatch):
    cfg = _cfg()
    assert prepare_cpu_distributed(cfg, 'none') is False
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert prepare_cpu_distributed(cfg, 'pytorch') is False
    assert cfg.to_dict() == _cfg().to_dict()


def test_cpu_pytorch_launcher_needs_torchrun_environment(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.delenv('MASTER_PORT', raising=False)
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
                           MASTER_ADDR='127.0.0.1').items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RuntimeError, match='MASTER_PORT'):
        prepare_cpu_distributed(_cfg(), 'pytorch')


def test_cpu_slurm_launcher_is_refused_clearly(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(RuntimeError, match="launcher='slurm'"):
        prepare_cpu_distributed(_cfg(), 'slurm')
