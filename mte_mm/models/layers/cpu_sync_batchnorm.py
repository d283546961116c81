"""Synchronised batch norm for CPU (gloo) process groups.

``torch.nn.SyncBatchNorm`` raises "SyncBatchNorm expected input tensor to be
on GPU ..." when it runs on the CPU in a multi-process group, so the mmseg
recipes (``norm_cfg=dict(type='SyncBN')``) cannot run under
``tools/dist_train.sh`` on a CPU-only machine. This layer is the one-group
case of :class:`SlotBatchNorm`'s synchronised reduction: the sums, sums of
squares and counts of every process in one differentiable all-reduce, so a
CPU run normalises over the whole distributed batch exactly like SyncBN on
GPUs. ``mte_mm.utils.prepare_cpu_distributed`` swaps it in for ``SyncBN``
only when a CPU process group is in use; GPU runs keep
``nn.SyncBatchNorm``.

Its parameters and buffers are named like ``nn.BatchNorm2d``'s, so
checkpoints move freely between the two.
"""
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from .slot_batch_norm import SlotBatchNorm


@MODELS.register_module(name='CPUSyncBN')
class CPUSyncBatchNorm(SlotBatchNorm):
    """Batch norm whose training statistics span all processes of a (CPU)
    process group: :class:`SlotBatchNorm` with one group, synchronised.

    Args:
        num_features (int): Channels ``C`` of an ``(N, C, ...)`` input.
        process_group (optional): The group to synchronise over; the default
            group when None.
        **kwargs: ``eps``, ``momentum``, ``affine``,
            ``track_running_stats``, as ``nn.BatchNorm2d``'s.
    """

    def __init__(self, num_features: int, process_group=None, **kwargs):
        super().__init__(num_features, synchronised=True,
                         process_group=process_group, **kwargs)

    def forward(self, input: Tensor) -> Tensor:
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats or self._world_size() == 1:
            return _BatchNorm.forward(self, input)  # plain BN: no sync
        return super().forward(input)
