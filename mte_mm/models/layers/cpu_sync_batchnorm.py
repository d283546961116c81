"""Synchronised batch norm for CPU (gloo) process groups.

``torch.nn.SyncBatchNorm`` raises "SyncBatchNorm expected input tensor to be
on GPU ..." when it runs on the CPU in a multi-process group, so the mmseg
recipes (``norm_cfg=dict(type='SyncBN')``) cannot run under
``tools/dist_train.sh`` on a CPU-only machine. This layer computes the same
thing with two differentiable all-reduces (the global mean, then the global
centred sum of squares; two passes for numerical stability), so a CPU run
normalises over the whole distributed batch exactly like SyncBN on GPUs.
``mte_mm.utils.prepare_cpu_distributed`` swaps it in for ``SyncBN`` only
when a CPU process group is in use; GPU runs keep ``nn.SyncBatchNorm``.

Its parameters and buffers are named like ``nn.BatchNorm2d``'s, so
checkpoints move freely between the two.
"""
from typing import Optional

import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS


@MODELS.register_module(name='CPUSyncBN')
class CPUSyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics span all processes of a (CPU)
    process group.

    Args:
        num_features (int): Channels ``C`` of an ``(N, C, ...)`` input.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-statistics momentum; ``None``
            for a cumulative average (as ``nn.BatchNorm2d``). Defaults to 0.1.
        affine (bool): Learnable scale and shift. Defaults to True.
        track_running_stats (bool): Keep running statistics for eval mode.
            Defaults to True.
        process_group (optional): The group to synchronise over; the default
            group when None.
    """

    def __init__(self,
                 num_features: int,
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 process_group=None) -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f'expected at least 2D input (got {input.dim()}D)')

    def _world_size(self) -> int:
        if not (dist.is_available() and dist.is_initialized()):
            return 1
        return dist.get_world_size(self.process_group)

    def forward(self, input: Tensor) -> Tensor:
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats or self._world_size() == 1:
            return super().forward(input)  # plain BN: nothing to sync
        self._check_input_dim(input)
        out_dtype = input.dtype
        if input.dtype in (torch.float16, torch.bfloat16):
            input = input.float()  # statistics in fp32 under AMP
        channels = input.size(1)
        dims = [0] + list(range(2, input.dim()))
        shape = [1, channels] + [1] * (input.dim() - 2)
        # every rank must join both all-reduces, even with an empty batch
        count = torch.tensor([input.numel() / max(channels, 1)],
                             dtype=input.dtype, device=input.device)
        sums = all_reduce(torch.cat([input.sum(dims), count]),
                          group=self.process_group)
        total = sums[-1]
        if total.item() <= 1:
            raise ValueError(
                'CPUSyncBatchNorm: the whole distributed batch has '
                f'{int(total.item())} value(s) per channel; batch norm needs '
                'more than 1')
        mean = sums[:-1] / total
        centred = input - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims),
                         group=self.process_group) / total
        if self.training and self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), total)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(out_dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor,
                              total: Tensor) -> None:
        self.num_batches_tracked.add_(1)
        momentum = (1.0 / float(self.num_batches_tracked)
                    if self.momentum is None else self.momentum)
        # running variance is the unbiased estimate, as in nn.BatchNorm
        unbiased = var * (total / (total - 1))
        self.running_mean.mul_(1 - momentum).add_(momentum * mean)
        self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
