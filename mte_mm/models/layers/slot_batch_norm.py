"""BatchNorm with statistics per group of the batch, computed in one batched
reduction, for Multi-Token Enhancing (MTE, arXiv 2411.15787) on base methods
whose projector or predictor has BatchNorm (MoCo v3, BYOL, SimSiam, Barlow
Twins).

Each token slot is its own ensemble member, so a projector run on all slots
at once must normalise each slot with that slot's statistics (mixed
statistics would change even the global token's path). One projector call
per slot keeps them apart but reads every weight matrix once per slot;
:class:`SlotBatchNorm` lets one call on the slot-major batch compute exactly
what those separate calls would: statistics of every group in one reduction
(under synchronised BatchNorm, one all-reduce per layer for all groups, where
separate calls would need one per group) and running statistics updated once
per group in group order.
"""
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm


def _synchronised(bn: _BatchNorm) -> bool:
    """torch's SyncBatchNorm, or one of ours that synchronises (CPUSyncBN)."""
    return isinstance(bn, nn.SyncBatchNorm) or (
        isinstance(bn, SlotBatchNorm) and bn.synchronised)


def _reproducible(bn: _BatchNorm) -> bool:
    """Whether SlotBatchNorm computes what ``bn`` does: a synchronised
    BatchNorm, one of ours, or any BatchNorm that keeps _BatchNorm's own
    forward (BatchNorm1d/2d/3d, mmcv's _BatchNormXd); a subclass with its
    own forward may compute something else and is refused."""
    return _synchronised(bn) or isinstance(bn, SlotBatchNorm) or \
        type(bn).forward is _BatchNorm.forward


class SlotBatchNorm(_BatchNorm):
    """BatchNorm over ``num_groups`` equal, consecutive groups of the batch,
    each with its own statistics: one call equals ``num_groups`` calls of
    the BatchNorm it replaces (outputs, gradients, running statistics).

    Its parameters and buffers are named as ``nn.BatchNorm1d``'s, so state
    dicts move freely between the two. Set ``num_groups`` before a call
    (:class:`SlotwiseProjector` does); 1 is a plain BatchNorm.

    Args:
        num_features (int): Channels ``C`` of an ``(N, C, ...)`` input.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-statistics momentum; ``None`` for
            a cumulative average. Defaults to 0.1.
        affine (bool): Learnable scale and shift. Defaults to True.
        track_running_stats (bool): Keep running statistics for eval mode.
            Defaults to True.
        synchronised (bool): Statistics over every process of
            ``process_group`` (as ``SyncBatchNorm``): the sums and counts of
            all groups travel in one differentiable all-reduce. Defaults to
            False.
        process_group (optional): The group to synchronise over; the default
            group when None.
    """

    def __init__(self,
                 num_features: int,
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 synchronised: bool = False,
                 process_group=None) -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self.synchronised = synchronised
        self.process_group = process_group
        self.num_groups = 1

    @classmethod
    def from_batch_norm(cls, bn: _BatchNorm) -> 'SlotBatchNorm':
        """The same layer (hyper-parameters, parameters and buffers shared,
        not copied) as ``bn``, a plain or synchronised BatchNorm."""
        if not _reproducible(bn):
            raise TypeError(
                f'SlotBatchNorm: cannot reproduce {type(bn).__name__}: its '
                'forward is not BatchNorm\'s (supported: BatchNorm1d/2d/3d, '
                'SyncBatchNorm, CPUSyncBatchNorm)')
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine,
                  bn.track_running_stats,
                  synchronised=_synchronised(bn),
                  process_group=getattr(bn, 'process_group', None))
        new.training = bn.training
        # the very tensors, so an optimizer built before the swap still works
        new._parameters = bn._parameters
        new._buffers = bn._buffers
        return new

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f'SlotBatchNorm: expected an (N, C, ...) input, '
                             f'got {input.dim()}D')

    def _world_size(self) -> int:
        if not (self.synchronised and dist.is_available()
                and dist.is_initialized()):
            return 1
        return dist.get_world_size(self.process_group)

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if not self.training and self.track_running_stats:
            # running statistics are the same for every group
            return F.batch_norm(input, self.running_mean, self.running_var,
                                self.weight, self.bias, False, 0.0, self.eps)
        groups = self.num_groups
        if input.shape[0] % groups:
            raise ValueError(f'SlotBatchNorm: a batch of {input.shape[0]} '
                             f'does not split into {groups} equal groups')
        out_dtype = input.dtype
        x = input.float() if input.dtype in (torch.float16,
                                             torch.bfloat16) else input
        channels = x.shape[1]
        # (G, N/G, C, *) -> statistics over every dim but G and C
        grouped = x.reshape(groups, -1, *x.shape[1:])
        dims = [1] + list(range(3, grouped.dim()))
        count = grouped.numel() // (groups * channels)
        if self._world_size() > 1:
            mean, var, total = self._synchronised_stats(grouped, dims, count)
        else:
            mean = grouped.mean(dims)
            var = grouped.var(dims, unbiased=False)
            total = float(count)
        if total <= 1:
            raise ValueError(f'SlotBatchNorm: {int(total)} value(s) per '
                             'channel and group; batch norm needs more than 1')
        if self.training and self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), total)
        shape = [groups, 1, channels] + [1] * (grouped.dim() - 3)
        out = (grouped - mean.view(shape)) * torch.rsqrt(
            var.view(shape) + self.eps)
        if self.affine:
            affine_shape = [1, 1, channels] + [1] * (grouped.dim() - 3)
            out = out * self.weight.view(affine_shape) + \
                self.bias.view(affine_shape)
        return out.reshape(input.shape).to(out_dtype)

    def _synchronised_stats(self, grouped: Tensor, dims: list, count: int):
        """Per-group mean and biased variance over every process, from one
        all-reduce of the per-group sums, sums of squares and the count
        (one pass: float32 loses precision only where a channel's mean is
        many orders of magnitude above its spread)."""
        groups, channels = grouped.shape[0], grouped.shape[2]
        sums = torch.cat([
            grouped.sum(dims).flatten(), (grouped * grouped).sum(dims).flatten(),
            grouped.new_tensor([float(count)])])
        sums = all_reduce(sums, group=self.process_group)
        total = sums[-1]
        mean = sums[:groups * channels].view(groups, channels) / total
        mean_sq = sums[groups * channels:-1].view(groups, channels) / total
        var = (mean_sq - mean * mean).clamp_min(0)
        return mean, var, float(total.item())

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor,
                              total: float) -> None:
        """As ``G`` separate calls would, group after group (the running
        variance is the unbiased estimate, as in nn.BatchNorm)."""
        groups = mean.shape[0]
        unbiased = var * (total / (total - 1))
        if self.momentum is None:  # cumulative average: group by group
            for group in range(groups):
                self.num_batches_tracked.add_(1)
                weight = 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean[group], weight)
                self.running_var.lerp_(unbiased[group], weight)
            return
        # G updates r <- (1 - m) r + m s_g in closed form:
        # r_G = (1 - m)^G r_0 + sum_g m (1 - m)^(G - 1 - g) s_g
        momentum = self.momentum
        decay = torch.tensor([(1 - momentum) ** (groups - 1 - g)
                              for g in range(groups)], dtype=mean.dtype,
                             device=mean.device)[:, None] * momentum
        self.num_batches_tracked.add_(groups)
        keep = (1 - momentum) ** groups
        self.running_mean.mul_(keep).add_((decay * mean).sum(0))
        self.running_var.mul_(keep).add_((decay * unbiased).sum(0))


def convert_to_slot_batch_norm(module: nn.Module) -> list:
    """Replace every BatchNorm inside ``module`` by a :class:`SlotBatchNorm`
    that shares its parameters and buffers; returns the new layers. A
    ``module`` that is itself a BatchNorm cannot be replaced in place and is
    refused."""
    if isinstance(module, _BatchNorm):
        raise TypeError('convert_to_slot_batch_norm: wrap a BatchNorm layer '
                        'in a module (e.g. nn.Sequential) first')
    converted = []
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is SlotBatchNorm:
                converted.append(child)
            elif isinstance(child, _BatchNorm):  # CPUSyncBN included
                slot_bn = SlotBatchNorm.from_batch_norm(child)
                setattr(parent, name, slot_bn)
                converted.append(slot_bn)
    return converted
