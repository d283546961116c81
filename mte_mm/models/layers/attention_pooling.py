"""Adaptive (attention) pooling of patch tokens into K tokens, the "adaptively
pooled tokens" of Multi-Token Enhancing (MTE, arXiv 2411.15787)."""
import math
from typing import Tuple

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from ...registry import MODELS


@MODELS.register_module()
class AttentionPooling(BaseModule):
    """K learned queries pool the patch tokens with image-dependent weights.

    ``s_ki = q_k . (W_k z_i) / sqrt(C)``, ``alpha_ki = softmax_i(s_ki)``,
    ``p_k = sum_i alpha_ki z_i``. Gradients reach the backbone through both
    the weights and the pooled values. ``W_k`` has no bias: a bias adds the
    same score to every patch and cancels in the softmax.

    Args:
        embed_dims (int): Token dimension C.
        num_queries (int): Number of pooled tokens K.
        init_std (float): Std of the truncated-normal query init. With
            normed patch tokens, query std 1 and ``W_k`` std ``C^-1/2`` the
            initial scores have unit scale, so the K pooling maps start
            distinct (tiny inits would make every map uniform and every
            pooled token the same mean-pooled token). Defaults to 1.0.
    """

    def __init__(self, embed_dims: int, num_queries: int,
                 init_std: float = 1.0, init_cfg=None):
        super().__init__(init_cfg)
        self.num_queries = num_queries
        self.init_std = init_std
        self.embed_dims = embed_dims
        self.queries = nn.Parameter(torch.zeros(num_queries, embed_dims))
        self.key = nn.Linear(embed_dims, embed_dims, bias=False)
        self.scale = 1.0 / math.sqrt(embed_dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        trunc_normal_(self.queries, std=self.init_std, a=-2 * self.init_std,
                      b=2 * self.init_std)
        trunc_normal_(self.key.weight, std=self.embed_dims**-0.5)

    def init_weights(self) -> None:
        super().init_weights()
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            self.reset_parameters()

    def forward(self, patch_tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """Pool ``(B, P, C)`` patch tokens.

        Returns:
            tuple[Tensor, Tensor]: pooled tokens ``(B, K, C)`` and pooling
            weights ``(B, K, P)`` (each row sums to 1).
        """
        # q_k . (W_k z_i) = (W_k^T q_k) . z_i: the key projection is applied
        # to the K queries once instead of to all P patch tokens of every
        # image (P C^2 per image: 10 % of a ResNet-50 step at C = 2048)
        queries = self.queries @ self.key.weight
        scores = torch.einsum('kc,bpc->bkp', queries.to(patch_tokens.dtype),
                              patch_tokens) * self.scale
        weights = scores.softmax(dim=-1)
        return weights @ patch_tokens, weights
