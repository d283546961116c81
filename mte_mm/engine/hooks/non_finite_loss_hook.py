"""Stop (or skip the step) on a non-finite loss before it reaches the
parameters, as the official DINO code stops on a non-finite loss
(Caron et al., ICCV 2021, ``main_dino.py``)."""
import logging
import math
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ...registry import HOOKS

POLICIES = ('stop', 'skip')


class NonFiniteLossError(RuntimeError):
    """Training stopped on a non-finite loss; the message says where."""


@HOOKS.register_module()
class NonFiniteLossGuardHook(Hook):
    """Check the loss and every logged loss component of each training step
    before the parameter update.

    A hook runs only around ``train_step``, after the update, so this one
    wraps two methods of the run's own objects in :meth:`before_train`: the
    model's ``parse_losses`` (which sees every logged component) and the
    optimizer wrapper's ``update_params`` (which it guards). With several
    processes the finding is all-reduced, so every rank stops or skips
    together (a rank that alone skipped its backward would hang the others
    in DDP's gradient all-reduce).

    * ``policy='stop'`` (default): raise :class:`NonFiniteLossError` naming
      the iteration, epoch and components, before the update. Nothing of
      that state is saved: the checkpoint hooks run after the step.
    * ``policy='skip'``: no backward and no update for that step, up to
      ``max_skips`` times in a run (then stop as above); each skip is
      logged. What the forward pass itself changed (an EMA teacher, DINO's
      centre, BatchNorm statistics: every tensor of the state dict that
      needs no gradient) is snapshotted before the step and restored, so a
      skipped step leaves the whole model as it was. The snapshot costs one
      copy of those tensors per step, which is why it is opt-in.

    Args:
        policy (str): ``'stop'`` or ``'skip'``.
        max_skips (int): Skips allowed in a run with ``policy='skip'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, policy: str = 'stop', max_skips: int = 10):
        if policy not in POLICIES:
            raise ValueError(f'NonFiniteLossGuardHook: policy={policy!r}; '
                             f'choose from {POLICIES}')
        if max_skips < 0:
            raise ValueError('NonFiniteLossGuardHook: max_skips must be >= 0'
                             f', got {max_skips}')
        self.policy = policy
        self.max_skips = max_skips
        self.skipped: List[int] = []  # iterations skipped in this run
        self._bad: Dict[str, float] = {}
        self._snapshot: Optional[Dict[str, torch.Tensor]] = None

    # -- wiring -----------------------------------------------------------
    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        optim_wrapper = runner.optim_wrapper
        if not hasattr(optim_wrapper, 'update_params') or \
                type(optim_wrapper).__name__ == 'OptimWrapperDict':
            raise TypeError('NonFiniteLossGuardHook guards one optimizer '
                            'wrapper; got '
                            f'{type(optim_wrapper).__name__}. Remove the '
                            'hook from default_hooks for this run.')
        self._model = model
        parse_losses = model.parse_losses
        update_params = optim_wrapper.update_params

        def checked_parse_losses(losses):
            loss, log_vars = parse_losses(losses)
            self._bad = self._non_finite(log_vars)
            return loss, log_vars

        def guarded_update_params(loss, *args, **kwargs):
            if not self._bad:
                return update_params(loss, *args, **kwargs)
            self._handle(runner)
            optim_wrapper.zero_grad()

        model.parse_losses = checked_parse_losses
        optim_wrapper.update_params = guarded_update_params

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self.policy == 'skip':
            self._snapshot = {
                name: value.detach().clone()
                for name, value in self._model.state_dict(
                    keep_vars=True).items() if not value.requires_grad}

    # -- the check --------------------------------------------------------
    @staticmethod
    def _non_finite(log_vars: Dict[str, torch.Tensor]) -> Dict[str, float]:
        """``{name: this rank's value}`` of the entries of ``log_vars`` that
        are non-finite on any rank (one all-reduced vector of flags)."""
        names = [name for name, value in log_vars.items()
                 if torch.is_tensor(value)]
        if not names:
            return {}
        values = torch.stack([log_vars[n].detach().float().reshape(())
                              for n in names])
        flags = (~torch.isfinite(values)).float()
        if get_world_size() > 1:
            all_reduce(flags, op='max')
        bad = flags.cpu().tolist()
        values = values.cpu().tolist()
        return {n: v for n, v, b in zip(names, values, bad) if b}

    def _handle(self, runner) -> None:
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                 f'work dir {runner.work_dir})')
        found = ', '.join(
            f'{name}={value}' if not math.isfinite(value) else
            f'{name} (non-finite on another process)'
            for name, value in self._bad.items())
        if self.policy == 'skip' and len(self.skipped) < self.max_skips:
            self.skipped.append(runner.iter + 1)
            live = self._model.state_dict(keep_vars=True)
            with torch.no_grad():
                for name, value in self._snapshot.items():
                    live[name].copy_(value)
            print_log(f'NonFiniteLossGuardHook: non-finite {found} at '
                      f'{where}: step skipped, model state restored '
                      f'(skip {len(self.skipped)} of at most '
                      f'{self.max_skips})', logger='current',
                      level=logging.WARNING)
            return
        reason = '' if self.policy == 'stop' else \
            f' after {len(self.skipped)} skipped steps (max_skips)'
        raise NonFiniteLossError(
            f'non-finite loss at {where}: {found}{reason}. Stopped before '
            'the parameter update; no checkpoint of this state was written. '
            'Resume from the last checkpoint with a lower lr, a higher '
            'student temperature or gradient clipping, or set '
            "default_hooks.non_finite=dict(type='NonFiniteLossGuardHook', "
            "policy='skip') to skip such steps.")
