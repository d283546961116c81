"""One transformer block over (main tokens, auxiliary tokens) with one-way
attention, for Multi-Token Enhancing (MTE, arXiv 2411.15787).

Main tokens (global CLS + patches) attend only to main tokens, so they are
computed exactly as in a plain ViT block with the same weights. Auxiliary
token ``a_n`` attends to the main tokens and to itself only. No dense
``(L+N) x (L+N)`` mask is built: the main path is ordinary attention over the
``L`` main tokens, and the auxiliary queries attend over the ``L + N`` keys
with a small ``N x (L+N)`` additive mask that hides the other auxiliary keys.
Both use ``F.scaled_dot_product_attention``. The token-wise parts of the
block (norms, qkv and output projections, FFN) run once on all ``L + N``
tokens: separate calls for the ``N`` auxiliary tokens read every weight
matrix twice and doubled the matmul calls of a step (torch.profiler, MTE-MoCo
v3 ViT-S/16 on CPU, batch 2: 1260 vs MoCo v3's 666 ``mm`` calls, matmul time
+20 % with all of MTE's extra work included).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from torch import Tensor


def aux_key_mask(num_main: int, num_aux: int, like: Tensor) -> Tensor:
    """Additive mask ``(num_aux, num_main + num_aux)``: every auxiliary query
    sees all main keys and its own key, not the other auxiliary keys."""
    mask = torch.full((num_aux, num_main + num_aux), float('-inf'),
                      dtype=like.dtype, device=like.device)
    mask[:, :num_main] = 0
    mask[:, num_main:].fill_diagonal_(0)
    return mask


def split_heads(qkv: Tensor, num_heads: int) -> Tuple[Tensor, Tensor, Tensor]:
    """``(B, L, 3C)`` qkv projections -> q, k, v of shape ``(B, H, L, C/H)``."""
    batch, length, _ = qkv.shape
    qkv = qkv.reshape(batch, length, 3, num_heads, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]


def merge_heads(x: Tensor) -> Tensor:
    """``(B, H, L, C/H)`` -> ``(B, L, C)``."""
    batch, _, length, _ = x.shape
    return x.transpose(1, 2).reshape(batch, length, -1)


def one_way_block(layer: TransformerEncoderLayer, x_main: Tensor,
                  x_aux: Tensor) -> Tuple[Tensor, Tensor]:
    """Run an mmpretrain ``TransformerEncoderLayer`` with one-way auxiliary
    attention.

    Args:
        layer (TransformerEncoderLayer): The block (its weights are shared by
            main and auxiliary tokens).
        x_main (Tensor): ``(B, L, C)`` global + patch tokens.
        x_aux (Tensor): ``(B, N, C)`` auxiliary tokens, ``N`` may be 0.

    Returns:
        tuple[Tensor, Tensor]: The updated main and auxiliary tokens.
    """
    if x_aux.shape[1] == 0:
        return layer(x_main), x_aux
    attn = layer.attn
    if attn.v_shortcut:
        raise NotImplementedError('one-way auxiliary attention does not '
                                  'support v_shortcut')
    dropout_p = attn.attn_drop if attn.training else 0.
    num_main = x_main.shape[1]
    x = torch.cat([x_main, x_aux], dim=1)
    q, k, v = split_heads(attn.qkv(layer.ln1(x)), attn.num_heads)
    # Main path: exactly mmpretrain's MultiheadAttention.forward on x_main.
    out_main = attn.scaled_dot_product_attention(
        q[:, :, :num_main], k[:, :, :num_main], v[:, :, :num_main],
        dropout_p=dropout_p)
    # Auxiliary path: keys/values of main tokens + each token's own.
    mask = aux_key_mask(num_main, x_aux.shape[1], q)
    out_aux = F.scaled_dot_product_attention(
        q[:, :, num_main:], k, v, attn_mask=mask, dropout_p=dropout_p)
    # drop-path draws one mask per image, shared by its main and auxiliary
    # tokens (they are tokens of one sample, as in a plain ViT block)
    x = finish_block(layer, x, torch.cat([out_main, out_aux], dim=2))
    return x[:, :num_main], x[:, num_main:]


def finish_block(layer: TransformerEncoderLayer, x: Tensor,
                 attn_out: Tensor) -> Tensor:
    """The rest of mmpretrain's block after attention: output projection,
    layer scale and residual, then the FFN (with its drop path)."""
    attn = layer.attn
    attn_out = attn.proj(merge_heads(attn_out))
    x = x + attn.out_drop(attn.gamma1(attn.proj_drop(attn_out)))
    return layer.ffn(layer.ln2(x), identity=x)


def full_block(layer: TransformerEncoderLayer, x_main: Tensor,
               x_aux: Tensor) -> Tuple[Tensor, Tensor]:
    """Ablation: all tokens attend to all (sequence ``[g, a_1..a_N, z]``)."""
    num_aux = x_aux.shape[1]
    x = torch.cat([x_main[:, :1], x_aux, x_main[:, 1:]], dim=1)
    x = layer(x)
    return (torch.cat([x[:, :1], x[:, 1 + num_aux:]], dim=1),
            x[:, 1:1 + num_aux])


def class_attention_block(layer: TransformerEncoderLayer, x_context: Tensor,
                          x_query: Tensor) -> Tensor:
    """Class attention (CaiT, Touvron et al., ICCV 2021) with an mmpretrain
    ``TransformerEncoderLayer``: each query token attends to the context
    tokens and to itself, and only the queries are updated (attention, then
    FFN). It is the auxiliary path of :func:`one_way_block` without its
    main path: the auxiliary tokens of a backbone whose tokens are not
    transformer tokens (a ConvNeXt's last-stage map).

    Args:
        layer (TransformerEncoderLayer): The block.
        x_context (Tensor): ``(B, L, C)`` tokens to read (not updated).
        x_query (Tensor): ``(B, N, C)`` query tokens.

    Returns:
        Tensor: The updated ``(B, N, C)`` queries.
    """
    attn = layer.attn
    if attn.v_shortcut:
        raise NotImplementedError('class attention does not support '
                                  'v_shortcut')
    num_context = x_context.shape[1]
    x = torch.cat([x_context, x_query], dim=1)
    q, k, v = split_heads(attn.qkv(layer.ln1(x)), attn.num_heads)
    out = F.scaled_dot_product_attention(
        q[:, :, num_context:], k, v,
        attn_mask=aux_key_mask(num_context, x_query.shape[1], q),
        dropout_p=attn.attn_drop if attn.training else 0.)
    return finish_block(layer, x_query, out)
