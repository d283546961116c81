"""FrozenParamsHook: DINO's frozen first-epoch last layer gets no update, no
weight decay and no optimizer state, as the official step (gradients set to
None after backward), checked against that step by hand."""
import copy

import torch
from mmengine.logging import MessageHub

from mte_mm.engine.hooks import remove_frozen_grads

from ..test_models.test_algorithms.test_mte_dino import build, views


def adamw_step(model, cancel):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2,
                                  weight_decay=0.04)
    torch.manual_seed(3)  # the same drop-path draws for every copy
    losses = model.loss(views(), [])
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    cancel(model)
    optimizer.step()
    return optimizer


def official_cancel(model):
    """The official DINO step: after backward, the last layer's gradients
    are set to None."""
    for name, param in model.named_parameters():
        if 'last_layer' in name:
            param.grad = None


def test_frozen_last_layer_is_left_exactly_as_the_official_step_leaves_it():
    model = build()
    last = {n: p.detach().clone() for n, p in model.named_parameters()
            if 'last_layer' in n and not n.startswith('teacher.')}
    assert set(last) == {'neck.projector.module.last_layer.weight_g',
                         'neck.projector.module.last_layer.weight_v'}
    ours, official, zeros = (copy.deepcopy(model) for _ in range(3))
    optimizer = adamw_step(ours, remove_frozen_grads)
    adamw_step(official, official_cancel)
    adamw_step(zeros, lambda m: None)  # zero gradients reach AdamW
    for (name, p), q in zip(ours.named_parameters(), official.parameters()):
        assert torch.equal(p, q), name
    for name, param in ours.named_parameters():
        if name in last:
            assert torch.equal(param, last[name]), name  # not even decayed
            assert param not in optimizer.state  # no moments, no step count
        elif param.requires_grad and param.grad is not None:
            assert param in optimizer.state
    # the zero-gradient freeze alone lets AdamW decay the frozen layer
    decayed = dict(zeros.named_parameters())
    assert not torch.equal(decayed['neck.projector.module.last_layer.weight_v'],
                           last['neck.projector.module.last_layer.weight_v'])


def test_the_layer_trains_after_the_frozen_epochs():
    model = build()
    assert len(model.frozen_parameters()) == 2
    MessageHub.get_current_instance().update_info('epoch', 1)
    try:
        assert model.frozen_parameters() == []
        before = model.neck.projector.module.last_layer.weight_v.detach().clone()
        adamw_step(model, remove_frozen_grads)
        assert not torch.equal(model.neck.projector.module.last_layer.weight_v,
                               before)
    finally:
        MessageHub.get_current_instance().update_info('epoch', 0)
