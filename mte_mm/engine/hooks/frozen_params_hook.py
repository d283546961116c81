"""Frozen parameters as the official DINO / iBOT code freezes them
(Caron et al., ICCV 2021: ``cancel_gradients_last_layer``): no update, no
weight decay, no optimizer state."""
from typing import List

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict

from ...registry import HOOKS


def remove_frozen_grads(model) -> int:
    """Set the gradient of every parameter ``model.frozen_parameters()``
    names to None; returns how many."""
    params = model.frozen_parameters()
    for param in params:
        param.grad = None
    return len(params)


@HOOKS.register_module()
class FrozenParamsHook(Hook):
    """Right before each optimizer step (after backward, DDP's gradient
    reduction and gradient clipping) remove the gradients of the parameters
    the model freezes at this point of training
    (``model.frozen_parameters()``: MTE-DINO's and MTE-iBOT's last projector
    layer during the first ``freeze_last_layer_epochs``), so that the
    optimizer skips them: AdamW neither moves nor decays them and starts
    their moments at the first step they train, as in the official code.

    In the forward pass those parameters get zero gradients (not none), so
    DDP's reduction stays well-formed without ``find_unused_parameters``;
    without this hook the zeros reach the optimizer and AdamW decays the
    frozen weights. Part of ``configs/_base_/default_runtime.py``.
    """

    priority = 'NORMAL'

    def __init__(self):
        self._handles: List = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        if not hasattr(model, 'frozen_parameters'):
            return
        wrapper = runner.optim_wrapper
        wrappers = list(wrapper.values()) if isinstance(
            wrapper, OptimWrapperDict) else [wrapper]

        def before_step(optimizer, args, kwargs) -> None:
            remove_frozen_grads(model)

        self._handles = [w.optimizer.register_step_pre_hook(before_step)
                         for w in wrappers]
        model.frozen_grads_removed = True

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
