"""A base method's projector (or predictor) run on token slots, for
Multi-Token Enhancing (MTE, arXiv 2411.15787)."""
import inspect
import math
import typing
from typing import Optional, Union

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from ..layers.slot_batch_norm import convert_to_slot_batch_norm

STATISTICS = ('per_slot', 'joint')
INPUT_TYPES = ('tensor', 'tuple')


def infer_input_type(module: nn.Module) -> str:
    """How ``module`` is called: ``'tuple'`` when the first argument of its
    ``forward`` is annotated as a tuple or list of tensors (mmpretrain's
    necks: ``NonLinearNeck.forward(x: Tuple[Tensor])``, which return a tuple
    too), else ``'tensor'`` (``DINOProjector``, an ``nn.Sequential`` MLP)."""
    params = list(inspect.signature(module.forward).parameters.values())
    annotation = params[0].annotation if params else inspect.Parameter.empty
    kinds = typing.get_args(annotation) \
        if typing.get_origin(annotation) is typing.Union else (annotation, )
    sequence = any((typing.get_origin(kind) or kind) in (tuple, list)
                   for kind in kinds)
    return 'tuple' if sequence else 'tensor'


@MODELS.register_module()
class SlotwiseProjector(BaseModule):
    """Any mmpretrain neck or MLP applied to slot features ``(..., B, S, C)``
    -> ``(..., B, S, D)``, each slot (and each index of the leading dims,
    e.g. a view) as its own batch.

    Every BatchNorm of the wrapped module becomes a
    :class:`SlotBatchNorm` at build time (same parameters and buffers), so a
    single call on all slots computes what one call per slot (and per
    leading index) would: outputs, gradients and running statistics; under
    synchronised BatchNorm, one all-reduce per layer for all slots. With
    ``statistics='joint'`` the slots of a leading index share one set of
    statistics instead. A module without BatchNorm gives the same result
    either way.

    Args:
        module (dict | nn.Module): The projector: a config for mmpretrain's
            (or our) registry, e.g. ``dict(type='NonLinearNeck', ...)``, or a
            built module.
        statistics (str): ``'per_slot'`` (default) or ``'joint'``.
        input_type (str, optional): ``'tensor'`` or ``'tuple'``: the module
            is called with a tensor, or with a 1-tuple and returns a tuple
            (mmpretrain's necks). Defaults to None: from the annotation of
            its ``forward`` (:func:`infer_input_type`).

    The wrapped module is ``self.module``; state dicts written when the
    projector was held directly (keys without ``module.``) still load.
    """

    def __init__(self,
                 module: Union[dict, nn.Module],
                 statistics: str = 'per_slot',
                 input_type: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if statistics not in STATISTICS:
            raise ValueError(f'SlotwiseProjector: statistics={statistics!r}, '
                             f'expected one of {STATISTICS}')
        if input_type not in (None, ) + INPUT_TYPES:
            raise ValueError(f'SlotwiseProjector: input_type={input_type!r}, '
                             f'expected None or one of {INPUT_TYPES}')
        self.module = module if isinstance(module, nn.Module) else \
            MMPRETRAIN_MODELS.build(module)
        self.statistics = statistics
        self.input_type = input_type or infer_input_type(self.module)
        # a plain list, not registered twice: the layers live in self.module
        self._norms = convert_to_slot_batch_norm(self.module)

    def forward(self, slots: Tensor) -> Tensor:
        """``(..., B, S, C)`` -> ``(..., B, S, D)``."""
        if slots.dim() < 3:
            raise ValueError('SlotwiseProjector: expected (..., B, S, C) '
                             f'slot features, got shape {tuple(slots.shape)}')
        self._check_norms()
        *lead, batch, num_slots, channels = slots.shape
        per_slot = self.statistics == 'per_slot'
        # rows in group-major order: each group is one BatchNorm batch
        rows = (slots.transpose(-3, -2) if per_slot else slots).reshape(
            -1, channels)
        groups = math.prod(lead) * (num_slots if per_slot else 1)
        for norm in self._norms:
            norm.num_groups = groups
        try:
            out = self.module((rows, ))[0] if self.input_type == 'tuple' \
                else self.module(rows)
        finally:
            for norm in self._norms:
                norm.num_groups = 1
        if per_slot:
            return out.view(*lead, num_slots, batch, -1).transpose(-3, -2)
        return out.view(*lead, batch, num_slots, -1)


    def _check_norms(self) -> None:
        """A clear error when a BatchNorm was swapped in after the build
        (``sync_bn='torch'``, ``nn.SyncBatchNorm.convert_sync_batchnorm``):
        it would mix the slots' statistics silently."""
        norms = [m for m in self.module.modules() if isinstance(m, _BatchNorm)]
        if len(norms) != len(self._norms) or \
                any(a is not b for a, b in zip(norms, self._norms)):
            raise RuntimeError(
                'SlotwiseProjector: a BatchNorm of the projector was replaced '
                'after it was built (e.g. by sync_bn / convert_sync_batchnorm'
                '), which would mix the slots\' batch statistics; name the '
                "norm in the projector's config instead (norm_cfg=dict("
                "type='SyncBN'): it is synchronised per slot)")

