"""Frozen parameters as the official DINO / iBOT code freezes them
(Caron et al., ICCV 2021: ``cancel_gradients_last_layer``): no update, no
weight decay, no optimizer state. The one place that applies a model's
freeze; the model only says which parameters are frozen
(``model.frozen_parameters()``, e.g. :meth:`MTEDINO.frozen_parameters`)."""
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict

from ...registry import HOOKS


def zero_frozen_grads(model) -> List:
    """Make the backward pass give every parameter
    ``model.frozen_parameters()`` names a zero gradient (tensor hooks);
    returns their handles."""
    return [param.register_hook(torch.zeros_like)
            for param in model.frozen_parameters()]


def remove_frozen_grads(model) -> int:
    """Set the gradient of every parameter ``model.frozen_parameters()``
    names to None; returns how many."""
    params = model.frozen_parameters()
    for param in params:
        param.grad = None
    return len(params)


@HOOKS.register_module()
class FrozenParamsHook(Hook):
    """Freezes the parameters the model freezes at this point of training
    (``model.frozen_parameters()``: MTE-DINO's and MTE-iBOT's last projector
    layers during the first ``freeze_last_layer_epochs``), as the official
    step does: AdamW neither moves nor decays them and starts their moments
    at the first step they train.

    * In the backward pass of each iteration they get zero gradients
      (:func:`zero_frozen_grads`), not none: DDP's gradient reduction stays
      well-formed without ``find_unused_parameters``, and gradient clipping
      by the global norm sees them as the official step does, as absent.
      Their weight gradient is still computed (and zeroed) in the frozen
      epochs.
    * Right before each optimizer step (after backward, DDP's reduction and
      clipping) their gradients are removed (:func:`remove_frozen_grads`),
      so that the optimizer skips them.

    Without this hook nothing is frozen. Part of
    ``configs/_base_/default_runtime.py``.
    """

    priority = 'NORMAL'

    def __init__(self):
        self._model = None
        self._step_handles: List = []
        self._grad_handles: List = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        if not hasattr(model, 'frozen_parameters'):
            return
        self._model = model
        wrapper = runner.optim_wrapper
        wrappers = list(wrapper.values()) if isinstance(
            wrapper, OptimWrapperDict) else [wrapper]

        def before_step(optimizer, args, kwargs) -> None:
            remove_frozen_grads(model)

        self._step_handles = [w.optimizer.register_step_pre_hook(before_step)
                              for w in wrappers]

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._remove_grad_handles()
        if self._model is not None:
            self._grad_handles = zero_frozen_grads(self._model)

    def after_train(self, runner) -> None:
        self._remove_grad_handles()
        for handle in self._step_handles:
            handle.remove()
        self._step_handles = []
        self._model = None

    def _remove_grad_handles(self) -> None:
        for handle in self._grad_handles:
            handle.remove()
        self._grad_handles = []
