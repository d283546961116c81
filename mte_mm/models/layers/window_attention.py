"""Non-overlapping window attention for a plain ViT block, as ViTDet uses for
dense tasks (Li et al., "Exploring Plain Vision Transformer Backbones for
Object Detection", ECCV 2022): patch tokens attend only within their
``w x w`` window, so a 1024 px image (64 x 64 patches) costs ~21x less
attention than global attention in those blocks.

Two choices of ours, for a backbone pretrained with a CLS token (ViTDet's
has none): the extra (CLS) tokens skip window blocks unchanged, and the grid
is zero-padded to a multiple of ``w`` with the padding masked out as keys
(so every window equals its unpadded crop run through the block alone).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from torch import Tensor

from .aux_token_attention import finish_block, split_heads


def window_partition(grid: Tensor, window: int) -> Tuple[Tensor, Tensor]:
    """Split a ``(B, h, w, C)`` grid into ``(B * nW, window**2, C)`` windows
    after zero-padding it to multiples of ``window``.

    Returns:
        tuple[Tensor, Tensor | None]: the windows and a ``(B * nW, 1, 1,
        window**2)`` boolean key mask (True = real token), or None when no
        padding was needed.
    """
    batch, h, w, channels = grid.shape
    pad_h, pad_w = (-h) % window, (-w) % window
    grid = F.pad(grid, (0, 0, 0, pad_w, 0, pad_h))
    rows, cols = (h + pad_h) // window, (w + pad_w) // window
    windows = grid.view(batch, rows, window, cols, window, channels).permute(
        0, 1, 3, 2, 4, 5).reshape(batch * rows * cols, window * window,
                                  channels)
    if not (pad_h or pad_w):
        return windows, None
    real = torch.zeros(h + pad_h, w + pad_w, dtype=torch.bool,
                       device=grid.device)
    real[:h, :w] = True
    mask = real.view(rows, window, cols, window).permute(0, 2, 1, 3).reshape(
        1, rows * cols, 1, 1, window * window).expand(batch, -1, -1, -1, -1)
    return windows, mask.reshape(batch * rows * cols, 1, 1, window * window)


def window_unpartition(windows: Tensor, window: int,
                       hw: Tuple[int, int]) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B, h, w, C)`` without the
    padding."""
    h, w = hw
    rows, cols = -(-h // window), -(-w // window)
    channels = windows.shape[-1]
    grid = windows.view(-1, rows, cols, window, window, channels).permute(
        0, 1, 3, 2, 4, 5).reshape(-1, rows * window, cols * window, channels)
    return grid[:, :h, :w]


def window_block(layer: TransformerEncoderLayer, x: Tensor,
                 hw: Tuple[int, int], window: int,
                 num_extra_tokens: int = 1) -> Tensor:
    """Run an mmpretrain ``TransformerEncoderLayer`` with window attention.

    Args:
        layer (TransformerEncoderLayer): The block.
        x (Tensor): ``(B, E + h*w, C)``: ``E`` extra (CLS) tokens, then the
            patch tokens in row-major order.
        hw (tuple[int, int]): The patch grid ``(h, w)``.
        window (int): Window side in patches.
        num_extra_tokens (int): ``E``. Defaults to 1.

    Returns:
        Tensor: The updated tokens; the extra tokens are returned unchanged.
    """
    attn = layer.attn
    if attn.v_shortcut:
        raise NotImplementedError('window attention does not support '
                                  'v_shortcut')
    extra, patches = x[:, :num_extra_tokens], x[:, num_extra_tokens:]
    batch, _, channels = patches.shape
    windows, key_mask = window_partition(
        patches.reshape(batch, *hw, channels), window)
    q, k, v = split_heads(attn.qkv(layer.ln1(windows)), attn.num_heads)
    attn_out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=key_mask,
        dropout_p=attn.attn_drop if attn.training else 0.)
    windows = finish_block(layer, windows, attn_out)
    patches = window_unpartition(windows, window, hw).reshape(
        batch, -1, channels)
    return torch.cat([extra, patches], dim=1)
