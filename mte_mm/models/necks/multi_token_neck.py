"""The multi-token neck of Multi-Token Enhancing (MTE, Li et al., arXiv
2411.15787): backbone tokens -> token slots ``[g, a_1..a_N, p_1..p_K]`` ->
the base method's projector per slot."""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from ...registry import MODELS
from ..layers.attention_pooling import AttentionPooling
from ..utils.mte_rng import mte_only_rng
from ..utils.slot_layout import SlotLayout
from .slotwise_projector import INPUT_TYPES, STATISTICS, SlotwiseProjector

@MODELS.register_module()
class MultiTokenNeck(BaseModule):
    """Token slots and their projections, EMA'd with the backbone by the
    teacher (mmpretrain's split: teacher = backbone + neck).

    From the backbone's token dict (``x_norm_clstoken`` (B, C),
    ``x_norm_auxtokens`` (B, N, C), ``x_norm_patchtokens`` (B, P, C)) it
    makes the K adaptively pooled tokens (:class:`AttentionPooling` of the
    patch tokens), stacks the slots in :class:`SlotLayout` order and
    projects every slot with the base method's projector (DINO's MLP head,
    MoCo v3's ``NonLinearNeck``): one projector shared by every token kind,
    or one per kind (``separate_projectors``).

    Args:
        in_channels (int): Token dimension C.
        projector (dict): Config of the projector, run on the slots by a
            :class:`SlotwiseProjector` (``self.projector``; the built
            projector is ``self.projector.module``).
        num_pooled_tokens (int): K. Defaults to 4.
        separate_projectors (bool): One projector per token kind (global /
            aux / pooled) instead of one shared. Defaults to False.
        projector_call (str): ``'per_slot'`` (default): every slot is
            projected as if on its own, so a projector with BatchNorm keeps
            each slot's batch statistics apart (statistics mixed over all
            slots would change even the global path); computed in one call
            (:class:`SlotwiseProjector`). ``'joint'``: BatchNorm
            statistics over all slots together. The two are the same for a
            projector without batch statistics (DINO's head).
        pooling_init_std (float): See :class:`AttentionPooling`.
        projector_input (str, optional): ``'tensor'`` or ``'tuple'``: how
            the projector is called (mmpretrain's necks take and return
            tuples). Defaults to None: from the annotation of its
            ``forward`` (:func:`infer_input_type`).
    """

    def __init__(self,
                 in_channels: int,
                 projector: dict,
                 num_pooled_tokens: int = 4,
                 separate_projectors: bool = False,
                 projector_call: str = 'per_slot',
                 pooling_init_std: float = 1.0,
                 projector_input: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if num_pooled_tokens < 0:
            raise ValueError('MultiTokenNeck: num_pooled_tokens must be >= 0, '
                             f'got {num_pooled_tokens}')
        if projector_call not in STATISTICS:
            raise ValueError(f'MultiTokenNeck: projector_call='
                             f'{projector_call!r}, expected one of '
                             f'{STATISTICS}')
        if projector_input not in (None, ) + INPUT_TYPES:
            raise ValueError(f'MultiTokenNeck: projector_input='
                             f'{projector_input!r}, expected None or one of '
                             f'{INPUT_TYPES}')
        self.num_pooled_tokens = num_pooled_tokens
        self.projector_call = projector_call
        self.separate_projectors = separate_projectors
        # registration order = parameter order, as in checkpoints written
        # before the neck existed (backbone.pooling, head, aux_head, ...)
        # MTE-only modules draw from their own stream (mte_only_rng): the
        # shared projector starts as in the base method at the same seed
        with mte_only_rng('pooling'):
            self.pooling = AttentionPooling(
                in_channels, num_pooled_tokens,
                init_std=pooling_init_std) if num_pooled_tokens > 0 else None
        def build_projector():
            return SlotwiseProjector(projector, statistics=projector_call,
                                     input_type=projector_input)

        self.projector = build_projector()
        if separate_projectors:
            with mte_only_rng('separate_projectors'):
                self.aux_projector = build_projector()
                self.pooled_projector = build_projector()

    def init_weights(self) -> None:
        """As BaseModule's, with the MTE-only modules initialised first from
        their own streams (BaseModule then skips them)."""
        for tag, name in (('pooling', 'pooling'),
                          ('separate_projectors', 'aux_projector'),
                          ('separate_projectors_pooled', 'pooled_projector')):
            module = getattr(self, name, None)
            if module is not None and not getattr(module, 'is_init', False):
                with mte_only_rng(tag):
                    module.init_weights()
        super().init_weights()

    def projectors(self) -> list:
        """The built projectors (each inside its :class:`SlotwiseProjector`):
        the global token's first, then the auxiliary and pooled tokens' with
        ``separate_projectors``. Methods reach their projector's own state
        here (DINO's last-layer freeze, iBOT's patch path)."""
        wrappers = [self.projector] + (
            [self.aux_projector, self.pooled_projector]
            if self.separate_projectors else [])
        return [wrapper.module for wrapper in wrappers]

    def slots(self, tokens: Dict[str, Tensor], global_only: bool = False
              ) -> Dict[str, Tensor]:
        """Slot features ``slots`` (B, S, C) (S = 1 with ``global_only``),
        the pooled tokens ``x_norm_pooledtokens`` (B, K, C) and their
        weights ``pool_weights`` (B, K, P)."""
        cls = tokens['x_norm_clstoken'][:, None]
        patch = tokens['x_norm_patchtokens']
        if global_only or self.pooling is None:
            pooled = patch.new_zeros(patch.shape[0], 0, patch.shape[2])
            weights = patch.new_zeros(patch.shape[0], 0, patch.shape[1])
        else:
            pooled, weights = self.pooling(patch)
        slots = cls if global_only else SlotLayout.of(
            tokens['x_norm_auxtokens'], pooled).stack(
                cls, tokens['x_norm_auxtokens'], pooled)
        return dict(slots=slots, x_norm_pooledtokens=pooled,
                    pool_weights=weights)

    def project(self, slots: Tensor, num_aux: int) -> Tensor:
        """Project ``(B, S, C)`` slot features (``num_aux`` of them are
        auxiliary CLS tokens) to ``(B, S, D)``."""
        if not self.separate_projectors:
            return self.projector(slots)
        projectors = {'global': self.projector, 'aux': self.aux_projector,
                      'pooled': self.pooled_projector}
        layout = SlotLayout(num_aux, slots.shape[1] - 1 - num_aux)
        return torch.cat([projectors[kind](part) for kind, part in
                          layout.parts(slots).items()], dim=1)

    def forward(self, tokens: Dict[str, Tensor], global_only: bool = False
                ) -> Dict[str, Tensor]:
        """Backbone token dict -> :meth:`slots` plus ``projected``
        (B, S, D)."""
        out = self.slots(tokens, global_only)
        out['projected'] = self.project(
            out['slots'], 0 if global_only else
            tokens['x_norm_auxtokens'].shape[1])
        return out
