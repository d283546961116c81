"""DINO's linear-probe features (Caron et al., ICCV 2021, eval_linear.py):
the CLS tokens of the last n blocks, concatenated, optionally with the
average-pooled patch tokens of the last block."""
from typing import Sequence, Tuple

import torch
from mmengine.model import BaseModule
from ...registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ConcatCLSNeck(BaseModule):
    """Concatenate CLS tokens of the last ``num_blocks`` backbone outputs.

    Expects the backbone's ``out_type='raw'`` outputs ``(B, 1 + P, C)`` (the
    first token is CLS), normed like DINO's ``get_intermediate_layers``
    (``MTEVisionTransformer(norm_intermediate=True)``). DINO's recipes: ViT-S
    ``num_blocks=4``; ViT-B ``num_blocks=1, with_avg_pool=True``.

    Args:
        num_blocks (int): How many of the last outputs to use.
        with_avg_pool (bool): Append the mean of the last output's patch
            tokens.
    """

    def __init__(self, num_blocks: int = 4, with_avg_pool: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg)
        if num_blocks < 1:
            raise ValueError(f'ConcatCLSNeck: num_blocks must be >= 1, got '
                             f'{num_blocks}')
        self.num_blocks = num_blocks
        self.with_avg_pool = with_avg_pool

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor]:
        if len(inputs) < self.num_blocks:
            raise ValueError(
                f'ConcatCLSNeck needs {self.num_blocks} backbone outputs '
                f'(set out_indices), got {len(inputs)}')
        if inputs[-1].dim() != 3:
            raise ValueError("ConcatCLSNeck needs out_type='raw' backbone "
                             f'outputs (B, L, C), got {tuple(inputs[-1].shape)}')
        feats = [x[:, 0] for x in inputs[-self.num_blocks:]]
        if self.with_avg_pool:
            feats.append(inputs[-1][:, 1:].mean(dim=1))
        return (torch.cat(feats, dim=-1), )
