"""Paired seeds: MTE's extra parameters do not shift the base method's
random stream, so DINO and MTE-DINO built at the same seed share identical
starting weights (and the stream is at the same place afterwards)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

from mte_mm.models.utils import mte_only_rng

from ...conftest import REPO, TINY_MTE_ARCH


def build(config, options, seed=0):
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict(options)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, torch.rand(4)  # where the stream is after building


VIT_TINY = {o.split('=')[0]: int(o.split('=')[1]) for o in TINY_MTE_ARCH}
CONVNEXT_TINY = {
    'model.backbone.backbone.arch': dict(_delete_=True, depths=[1] * 4,
                                         channels=[8, 8, 16, 16]),
    'model.neck.in_channels': 16, 'model.neck.projector.in_channels': 16,
    'model.neck.projector.out_channels': 32,
    'model.neck.projector.hidden_channels': 16,
    'model.neck.projector.bottleneck_channels': 8,
    'model.head.out_channels': 32}
BASELINE = {'model.backbone.num_aux_tokens': 0,
            'model.neck.num_pooled_tokens': 0, 'model.distill': None}


@pytest.mark.parametrize('config, tiny, mte', [
    ('configs/mte_dino_vits.py', VIT_TINY, {}),
    ('configs/mte_dino_vits.py', VIT_TINY,
     {'model.backbone.num_aux_tokens': 8, 'model.neck.num_pooled_tokens': 8,
      'model.neck.separate_projectors': True}),
    ('configs/mte_dino_convnext_tiny.py', CONVNEXT_TINY,
     {'model.backbone.num_aux_tokens': 2,
      'model.backbone.aux_num_heads': 1}),
])
def test_shared_parameters_start_identical_at_one_seed(config, tiny, mte):
    base, base_next = build(config, dict(tiny, **BASELINE))
    model, model_next = build(config, dict(tiny, **mte))
    shared = dict(base.named_parameters())
    extra = [name for name, _ in model.named_parameters()
             if name not in shared]
    assert extra  # MTE did add parameters
    for name, param in model.named_parameters():
        if name in shared:
            assert torch.equal(param, shared[name]), name
    assert torch.equal(base_next, model_next)
    # and a different seed gives different weights (the test can fail)
    other, _ = build(config, dict(tiny, **BASELINE), seed=1)
    assert not torch.equal(other.neck.projector.module.mlp[0].weight,
                           base.neck.projector.module.mlp[0].weight)


def test_mte_stream_depends_on_seed_and_tag_and_restores_the_global_one():
    torch.manual_seed(3)
    with mte_only_rng('a'):
        a = torch.rand(3)
    after = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(torch.rand(3), after)  # global stream untouched
    torch.manual_seed(3)
    with mte_only_rng('a'):
        assert torch.equal(torch.rand(3), a)
    with mte_only_rng('b'):
        assert not torch.equal(torch.rand(3), a)
    torch.manual_seed(4)
    with mte_only_rng('a'):
        assert not torch.equal(torch.rand(3), a)
