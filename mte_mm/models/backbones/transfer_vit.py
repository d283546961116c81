"""The ViT that MTE's downstream configs fine-tune or probe: mmpretrain's
``VisionTransformer`` with two options its transfer recipes need, loading the
plain ViT that ``tools/export_backbone.py`` writes from a Multi-Token
Enhancing (MTE, arXiv 2411.15787) checkpoint."""
from typing import Sequence, Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor

from ...registry import MODELS
from ..layers.window_attention import window_block


@MODELS.register_module()
class TransferViT(VisionTransformer):
    """mmpretrain's ViT (same parameters and state-dict keys) plus:

    * ``window_size`` / ``global_attn_indices``: ViTDet's window attention
      for dense tasks (Li et al., "Exploring Plain Vision Transformer
      Backbones for Object Detection", ECCV 2022): patch tokens of the blocks
      not in ``global_attn_indices`` attend within non-overlapping
      ``window_size`` x ``window_size`` windows (padded at the border; the
      CLS token, which ViTDet has not, skips those blocks).
    * ``norm_intermediate``: the final norm on the outputs of every
      ``out_indices`` block, not only the last (DINO's linear probe reads the
      normed CLS tokens of the last blocks).

    With both off it is exactly ``VisionTransformer``.

    Args:
        window_size (int): 0 (default): global attention everywhere.
        global_attn_indices (Sequence[int]): Blocks that keep global
            attention when ``window_size > 0`` (ViTDet, 12 blocks:
            ``(2, 5, 8, 11)``). Negative indices count from the end.
            Defaults to ().
        norm_intermediate (bool): Defaults to False (mmpretrain's
            behaviour).
        **kwargs: Arguments of :class:`mmpretrain.models.VisionTransformer`.
    """

    def __init__(self,
                 *args,
                 window_size: int = 0,
                 global_attn_indices: Sequence[int] = (),
                 norm_intermediate: bool = False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        depth = len(self.layers)
        if window_size < 0:
            raise ValueError(f'window_size must be >= 0, got {window_size}')
        for index in global_attn_indices:
            if not -depth <= index < depth:
                raise ValueError(
                    f'global_attn_indices={list(global_attn_indices)}: '
                    f'block {index} does not exist in a {depth}-block ViT')
        self.window_size = window_size
        self.global_attn_indices = tuple(sorted(
            index % depth for index in global_attn_indices))
        self.norm_intermediate = norm_intermediate

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """mmpretrain's contract: one output per ``out_indices`` entry,
        formatted by ``out_type``."""
        batch = x.shape[0]
        x, hw = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed, self.patch_resolution, hw,
            mode=self.interpolate_mode, num_extra_tokens=self.num_extra_tokens)
        x = self.pre_norm(self.drop_after_pos(x))
        outs, last = [], len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if self.window_size and i not in self.global_attn_indices:
                x = window_block(layer, x, hw, self.window_size,
                                 self.num_extra_tokens)
            else:
                x = layer(x)
            if i == last and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                normed = self.norm_intermediate and self.final_norm and \
                    i != last
                outs.append(self._format_output(
                    self.ln1(x) if normed else x, hw))
        return tuple(outs)
