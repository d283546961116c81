import pytest
import torch
from mmengine.config import Config

from mte_mm.utils import prepare_cpu_distributed

from ..conftest import free_port


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


def test_sync_norms_become_cpu_sync_bn_only_for_cpu_groups(monkeypatch):
    import torch.distributed as dist

    from mte_mm.utils import dist as dist_utils
    from mte_mm.utils.dist import replace_sync_norms

    def seg_cfg():
        norm = dict(type='SyncBN', requires_grad=True)
        return Config(dict(model=dict(
            backbone=dict(type='X', norm_cfg=dict(type='LN')),
            decode_head=dict(norm_cfg=norm),
            auxiliary_head=[dict(norm_cfg=dict(type='MMSyncBN')),
                            dict(norm_cfg=dict(type='BN'))])))

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    gpu = seg_cfg()
    prepare_cpu_distributed(gpu, 'pytorch')
    assert gpu.model.decode_head.norm_cfg.type == 'SyncBN'

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    port = free_port()
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(dist_utils, '_CPU_GROUP', False)  # restored after
    cpu = seg_cfg()
    try:  # a real 1-process gloo group
        assert prepare_cpu_distributed(cpu, 'pytorch') is True
    finally:
        dist.destroy_process_group()
    assert cpu.model.decode_head.norm_cfg == dict(type='mte_mm.CPUSyncBN',
                                                  requires_grad=True)
    assert cpu.model.auxiliary_head[0].norm_cfg.type == 'mte_mm.CPUSyncBN'
    assert cpu.model.auxiliary_head[1].norm_cfg.type == 'BN'
    assert cpu.model.backbone.norm_cfg.type == 'LN'
    assert replace_sync_norms(cpu.model) == 0  # nothing left to replace
