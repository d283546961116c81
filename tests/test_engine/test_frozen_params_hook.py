"""FrozenParamsHook: DINO's frozen first-epoch last layer gets no update, no
weight decay and no optimizer state, as the official step (gradients set to
None after backward), checked against that step by hand; in the backward
pass it gets zero gradients and leaves the loss and every other gradient
as they are."""
import copy

import torch
from mmengine.logging import MessageHub

from mte_mm.engine.hooks import remove_frozen_grads, zero_frozen_grads

from ..test_models.test_algorithms.test_mte_dino import build, views


def adamw_step(model, cancel, zero=False):
    """One AdamW step; ``cancel(model)`` after backward; ``zero``: the
    hook's zero gradients in the backward pass."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2,
                                  weight_decay=0.04)
    handles = zero_frozen_grads(model) if zero else []
    torch.manual_seed(3)  # the same drop-path draws for every copy
    losses = model.loss(views(), [])
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for handle in handles:
        handle.remove()
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
    optimizer = adamw_step(ours, remove_frozen_grads, zero=True)
    adamw_step(official, official_cancel)
    adamw_step(zeros, lambda m: None, zero=True)  # zeros reach AdamW
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
        adamw_step(model, remove_frozen_grads, zero=True)
        assert not torch.equal(model.neck.projector.module.last_layer.weight_v,
                               before)
    finally:
        MessageHub.get_current_instance().update_info('epoch', 0)


def test_frozen_layers_get_zero_gradients_and_nothing_else_changes():
    """In the backward pass the frozen last layer gets zero gradients (DDP
    reduces them without find_unused_parameters; global-norm clipping sees
    nothing), while the loss and every other gradient are those of the
    unfrozen step."""
    def step(zero):
        model = build()  # a fresh copy: the step moves the centre, the EMA
        handles = zero_frozen_grads(model) if zero else []
        torch.manual_seed(3)
        losses = model.loss(views(), [])
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        loss.backward()
        for handle in handles:
            handle.remove()
        return loss.detach(), {n: p.grad.clone() for n, p in
                               model.named_parameters() if p.grad is not None}

    model = build()
    frozen_ids = {id(p) for p in model.frozen_parameters()}
    frozen = {n for n, p in model.named_parameters() if id(p) in frozen_ids}
    free_loss, free = step(False)
    loss, grads = step(True)
    torch.testing.assert_close(loss, free_loss)
    assert set(grads) == set(free)
    assert frozen == {'neck.projector.module.last_layer.weight_g',
                      'neck.projector.module.last_layer.weight_v'}
    for name in grads:
        if name in frozen:
            assert grads[name].abs().sum() == 0 < free[name].abs().sum()
        else:
            torch.testing.assert_close(grads[name], free[name])


def test_ibot_freezes_its_separate_patch_layer_too():
    from ..test_models.test_algorithms.test_mte_ibot import build as ibot
    model = ibot(shared_last_layer=False)
    head = model.neck.projector.module
    assert {id(p) for p in model.frozen_parameters()} == {
        id(p) for layer in (head.last_layer, head.patch_last_layer)
        for p in layer.parameters() if p.requires_grad}
    handles = zero_frozen_grads(model)
    head.forward_patches(torch.randn(3, head.mlp[0].in_features)).sum(
    ).backward()
    for handle in handles:
        handle.remove()
    assert head.patch_last_layer.weight_v.grad.abs().sum() == 0
    assert head.mlp[0].weight.grad.abs().sum() > 0
