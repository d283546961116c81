"""iBOT's projector (Zhou et al., "iBOT: Image BERT Pre-Training with
Online Tokenizer", ICLR 2022; the original code's head): DINO's projector
that also projects patch tokens, for iBOT and MTE-iBOT (Multi-Token
Enhancing, arXiv 2411.15787)."""
from typing import Optional


import torch.nn.functional as F
from torch import Tensor

from ...registry import MODELS
from ..layers.weight_norm_linear import WeightNormLinear
from ..utils.precision import at_least_float32
from .dino_projector import DINOProjector


@MODELS.register_module()
class IBOTProjector(DINOProjector):
    """:class:`DINOProjector` for the CLS-level slots plus
    :meth:`forward_patches` for patch tokens: the same MLP and L2
    normalisation, then the same last layer (``shared_last_layer=True``,
    the iBOT ViT-S/16 recipe's ``shared_head``) or a separate weight-normed
    one with ``patch_out_channels`` prototypes. DINO's first-epoch freeze
    of the last layer covers both.

    Args:
        in_channels (int): Token dimension of the backbone.
        out_channels (int): CLS prototypes. Defaults to 8192 (iBOT).
        patch_out_channels (int, optional): Patch prototypes; must equal
            ``out_channels`` with a shared last layer. Defaults to
            ``out_channels``.
        shared_last_layer (bool): One last layer for CLS and patch tokens.
            Defaults to True.
        **kwargs: :class:`DINOProjector`'s ``hidden_channels``,
            ``bottleneck_channels``, ``num_layers``, ``use_bn``,
            ``norm_last_layer``, ``init_cfg``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 8192,
                 patch_out_channels: Optional[int] = None,
                 shared_last_layer: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        patch_out_channels = patch_out_channels or out_channels
        if shared_last_layer and patch_out_channels != out_channels:
            raise ValueError(
                f'IBOTProjector: a shared last layer needs patch_out_channels '
                f'({patch_out_channels}) == out_channels ({out_channels})')
        self.patch_out_channels = patch_out_channels
        self.shared_last_layer = shared_last_layer
        self.patch_last_layer = None if shared_last_layer else \
            WeightNormLinear(self.last_layer.in_features, patch_out_channels,
                             fix_norm=not self.last_layer.weight_g
                             .requires_grad)

    def forward_patches(self, x: Tensor) -> Tensor:
        """``(..., in_channels)`` patch tokens -> ``(..., patch_out_channels)``
        logits."""
        shape = x.shape[:-1]
        # float32 normalisation, as DINOHead.forward
        x = F.normalize(
            at_least_float32(self.mlp(x.reshape(-1, x.shape[-1]))), dim=-1)
        last = self.last_layer if self.patch_last_layer is None \
            else self.patch_last_layer
        return last(x).reshape(
            *shape, last.out_features)  # explicit: no masked patch is 0 rows

