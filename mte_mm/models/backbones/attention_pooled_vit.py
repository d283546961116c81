"""A plain ViT whose image feature is Multi-Token Enhancing's adaptively
pooled tokens (MTE, Li et al., arXiv 2411.15787), kept at inference.

This is a departure from the paper's promise that the extra tokens are
dropped at zero cost, for a user who wants the pooled tokens' feature (at
the scale in ``docs/evidence.md`` it was no better a kNN feature than the
distilled global token; at another scale it may be). The cost over the
plain ViT is one attention pooling of the last block's patch tokens
(``tools/benchmarks/pooled_feature_cost.py`` measures it).
"""
from typing import Tuple

import torch.nn.functional as F
from mmpretrain.models.backbones import VisionTransformer
from torch import Tensor

from ...registry import MODELS
from ..layers.attention_pooling import AttentionPooling


def pooled_image_feature(pooled_tokens: Tensor) -> Tensor:
    """``(B, K, C)`` pooled tokens -> ``(B, C)``: the mean of the
    L2-normalised pooled tokens (as the kNN ``pooled`` row and the distilled
    ensemble average their members)."""
    return F.normalize(pooled_tokens, dim=-1).mean(1)


@MODELS.register_module()
class AttentionPooledViT(VisionTransformer):
    """mmpretrain's ``VisionTransformer`` plus MTE's :class:`AttentionPooling`
    over the final-normed patch tokens of the last block.

    With ``out_type='pooled'`` (default) :meth:`forward` returns a 1-tuple of
    the ``(B, C)`` feature :func:`pooled_image_feature`, which mmpretrain's
    ``ImageClassifier`` heads read as they read a CLS token; every other
    ``out_type`` is the plain ViT's (the pooling is then unused). Written by
    ``tools/export_backbone.py --pooled``, with the pooling weights of the
    MTE neck (state keys ``pooling.queries``, ``pooling.key.weight``).

    Args:
        num_pooled_tokens (int): K, as the MTE model's
            ``model.neck.num_pooled_tokens``.
        out_type (str): ``'pooled'`` or one of ``VisionTransformer``'s.
        **kwargs: ``VisionTransformer``'s arguments. ``frozen_stages`` equal
            to the number of layers (a frozen-feature probe) freezes the
            pooling too.
    """
    OUT_TYPES = VisionTransformer.OUT_TYPES | {'pooled'}

    def __init__(self, num_pooled_tokens: int, out_type: str = 'pooled',
                 **kwargs):
        if num_pooled_tokens < 1:
            raise ValueError('AttentionPooledViT: num_pooled_tokens must be '
                             f'>= 1, got {num_pooled_tokens}')
        super().__init__(out_type=out_type, **kwargs)
        if out_type == 'pooled':
            last = len(self.layers) - 1
            if list(self.out_indices) != [last] or not self.final_norm:
                raise ValueError(
                    'AttentionPooledViT: out_type=\'pooled\' reads the '
                    'final-normed last block (out_indices=-1, '
                    f'final_norm=True); got out_indices={self.out_indices}, '
                    f'final_norm={self.final_norm}')
        self.pooling = AttentionPooling(self.embed_dims, num_pooled_tokens)
        if self.frozen_stages == len(self.layers):
            self._freeze_pooling()

    def _freeze_pooling(self) -> None:
        self.pooling.eval()
        for param in self.pooling.parameters():
            param.requires_grad = False

    def _format_output(self, x: Tensor, hw: Tuple[int, int]) -> Tensor:
        if self.out_type != 'pooled':
            return super()._format_output(x, hw)
        pooled, _ = self.pooling(x[:, self.num_extra_tokens:])
        return pooled_image_feature(pooled)
