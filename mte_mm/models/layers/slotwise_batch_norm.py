"""Batch statistics per token slot in one call, for Multi-Token Enhancing
(MTE, arXiv 2411.15787) on base methods whose projector or predictor has
BatchNorm (MoCo v3, BYOL, SimSiam).

Each slot is its own ensemble member: a projector called once on all
``S`` slots would normalise them with statistics mixed over the slots, which
changes even the global token's path. Calling the projector once per slot
keeps them apart but reads every weight matrix ``S`` times (MoCo v3's
4096-wide MLPs: the step is weight-bandwidth bound on small batches, measured
1.6x the MoCo v3 step time on CPU). Inside :func:`slotwise_batch_norm` every
BatchNorm of a module normalises each of ``num_groups`` consecutive, equal
chunks of its batch with that chunk's own statistics, so one call computes
exactly what ``num_groups`` separate calls would, running statistics
included.
"""
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


def grouped_batch_norm(bn: _BatchNorm, input: Tensor,
                       num_groups: int) -> Tensor:
    """``bn``'s own forward on each of ``num_groups`` equal, consecutive
    chunks of the batch of ``input`` ``(G*B, C, ...)``: exactly what
    ``num_groups`` separate calls compute (a synchronised ``bn`` reduces each
    chunk over its process group; running statistics are updated once per
    chunk, in chunk order). BatchNorm's own work is small; the saving is in
    the layers around it, which see the whole batch once."""
    forward = type(bn).forward  # the class's (the instance's may be ours)
    if num_groups == 1:
        return forward(bn, input)
    if input.shape[0] % num_groups:
        raise ValueError(f'grouped_batch_norm: a batch of {input.shape[0]} '
                         f'does not split into {num_groups} equal groups')
    return torch.cat([forward(bn, chunk)
                      for chunk in input.chunk(num_groups)])


@contextmanager
def slotwise_batch_norm(module: nn.Module, num_groups: int) -> Iterator:
    """Within the context, every BatchNorm in ``module`` works per group of
    the batch (:func:`grouped_batch_norm`); its parameters and buffers are
    its own, so optimizers, DDP and checkpoints see no difference."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    if num_groups == 1 or not norms:
        yield
        return
    for bn in norms:
        # an instance attribute shadows the class's forward for this call
        bn.forward = lambda input, bn=bn: grouped_batch_norm(
            bn, input, num_groups)
    try:
        yield
    finally:
        for bn in norms:
            del bn.forward
