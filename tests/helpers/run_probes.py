"""Hooks that training subprocesses of the tests load through
``custom_imports=dict(imports=['tests.helpers.run_probes'])`` (with the repo
on PYTHONPATH): a SIGKILL at a given iteration, and a per-iteration record
of the losses (averaged over processes) and of the parameters."""
import json
import os
import os.path as osp
import signal

import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAtIteration(Hook):
    """SIGKILL this process after the given (1-based) iteration, once the
    other hooks of that iteration (checkpoints) have run."""

    priority = 'LOWEST'

    def __init__(self, iteration: int):
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class RecordSteps(Hook):
    """Append ``{"iter", "losses", "params"}`` per iteration to
    ``<work_dir>/steps.jsonl`` (rank 0): every logged loss averaged over the
    processes (mmengine logs rank 0's own), and the full precision sum and
    sum of squares of every student and teacher parameter."""

    priority = 'LOW'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        losses = {}
        for key, value in outputs.items():
            value = value.detach().double().clone()
            if get_world_size() > 1:
                all_reduce(value, op='mean')
            losses[key] = value.item()
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        params = {name: [p.double().sum().item(),
                         p.double().pow(2).sum().item()]
                  for name, p in model.state_dict().items()
                  if torch.is_floating_point(p)}
        if get_rank() == 0:
            with open(osp.join(runner.work_dir, 'steps.jsonl'), 'a') as f:
                f.write(json.dumps(dict(iter=runner.iter + 1, losses=losses,
                                        params=params)) + '\n')
