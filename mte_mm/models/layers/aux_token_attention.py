"""One transformer block over (main tokens, auxiliary tokens) with one-way
attention, for Multi-Token Enhancing (MTE, arXiv 2411.15787).

Main tokens (global CLS + patches) attend only to main tokens, so they are
computed exactly as in a plain ViT block with the same weights. Auxiliary
token ``a_n`` attends to the main tokens and to itself only. No
``(L+N) x (L+N)`` mask is built: the main path is ordinary attention over
the ``L`` main tokens. On CUDA each auxiliary query's attention over (main
keys, its own key) is the unmasked attention over the main keys merged with
its own key by log-sum-exp (:func:`aux_attention`), so no call of
``F.scaled_dot_product_attention`` has a mask and fused (flash) kernels
apply; on CPU, where it measured faster, and with attention dropout, the
auxiliary queries use a small ``N x (L+N)`` additive mask
(:func:`aux_key_mask`). With per-image key subsets (``aux_keys``: bagged
auxiliary tokens, :class:`MTEVisionTransformer`'s ``aux_patch_keep``) the
auxiliary queries always take the masked call; the main path is unchanged.
The token-wise parts of the
block (norms, qkv and output projections, FFN) run once on all ``L + N``
tokens: separate calls for the ``N`` auxiliary tokens read every weight
matrix twice and doubled the matmul calls of a step (torch.profiler, MTE-MoCo
v3 ViT-S/16 on CPU, batch 2: 1260 vs MoCo v3's 666 ``mm`` calls, matmul time
+20 % with all of MTE's extra work included).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from torch import Tensor


def aux_key_mask(num_main: int, num_aux: int, like: Tensor) -> Tensor:
    """Additive mask ``(num_aux, num_main + num_aux)``: every auxiliary query
    sees all main keys and its own key, not the other auxiliary keys."""
    # built without in-place writes to views, so torch.compile can trace it
    allowed = torch.cat([
        torch.ones(num_aux, num_main, dtype=torch.bool, device=like.device),
        torch.eye(num_aux, dtype=torch.bool, device=like.device)], dim=1)
    return torch.zeros(allowed.shape, dtype=like.dtype,
                       device=like.device).masked_fill(~allowed,
                                                       float('-inf'))


def aux_subset_mask(aux_keys: Tensor, like: Tensor) -> Tensor:
    """Additive mask ``(B, 1, N, L + N)`` from ``aux_keys`` ``(B, N, L)``
    (True: auxiliary query n of image b may attend to main key l): those
    main keys and the query's own key."""
    batch, num_aux, _ = aux_keys.shape
    own = torch.eye(num_aux, dtype=torch.bool, device=aux_keys.device)
    allowed = torch.cat([aux_keys, own.expand(batch, -1, -1)], dim=2)
    return torch.zeros(allowed.shape, dtype=like.dtype,
                       device=like.device).masked_fill(
                           ~allowed, float('-inf'))[:, None]


def aux_attention(q_aux: Tensor, k: Tensor, v: Tensor, num_main: int,
                  dropout_p: float = 0.,
                  mask_free: Optional[bool] = None,
                  aux_keys: Optional[Tensor] = None) -> Tensor:
    """Attention of each auxiliary query over the main keys and its own key,
    without a mask.

    With ``s`` the query's scores on the main keys and ``s_n`` on its own
    key, ``softmax([s, s_n]) @ [V, v_n] = (1 - w) o + w v_n`` where
    ``o = softmax(s) @ V`` (unmasked fused attention) and
    ``w = sigmoid(s_n - logsumexp(s))``. The log-sum-exp needs the
    ``N x L`` scores of the ``N`` auxiliary queries only, computed in at least
    float32 (also under autocast). Attention dropout acts on the joint
    probabilities, so with ``dropout_p > 0`` the masked reference is used.

    By default (``mask_free=None``) the mask-free path runs on CUDA, where
    it lets the main-key attention use a fused flash kernel, and the masked
    one elsewhere: on CPU the masked call was faster (3x for the auxiliary
    path alone, ViT-S shapes, ``tools/benchmarks/aux_attention.py``). Both
    are exact (``tests/test_models/test_layers/test_aux_token_attention.py``).

    Args:
        q_aux (Tensor): ``(B, H, N, D)`` auxiliary queries.
        k, v (Tensor): ``(B, H, L + N, D)`` keys and values, main first.
        num_main (int): ``L``.
        dropout_p (float): Attention dropout.
        mask_free (bool, optional): Force one path.
        aux_keys (Tensor, optional): ``(B, N, L)`` bool: the main keys each
            auxiliary query may attend to (all when None). Given, the masked
            call runs (:func:`aux_subset_mask`).

    Returns:
        Tensor: ``(B, H, N, D)``.
    """
    if aux_keys is not None:
        return F.scaled_dot_product_attention(
            q_aux, k, v, attn_mask=aux_subset_mask(aux_keys, q_aux),
            dropout_p=dropout_p)
    if mask_free is None:
        mask_free = q_aux.is_cuda
    if dropout_p > 0 or not mask_free:
        return F.scaled_dot_product_attention(
            q_aux, k, v, attn_mask=aux_key_mask(num_main, q_aux.shape[2],
                                                q_aux),
            dropout_p=dropout_p)
    k_main, v_main = k[:, :, :num_main], v[:, :, :num_main]
    k_own, v_own = k[:, :, num_main:], v[:, :, num_main:]
    scale = q_aux.shape[-1] ** -0.5
    out_main = F.scaled_dot_product_attention(q_aux, k_main, v_main)
    wide = torch.promote_types(q_aux.dtype, torch.float32)
    q_wide = q_aux.to(wide)
    lse_main = torch.logsumexp(
        q_wide @ k_main.to(wide).transpose(-2, -1) * scale, dim=-1,
        keepdim=True)
    own = (q_wide * k_own.to(wide)).sum(-1, keepdim=True) * scale
    weight = torch.sigmoid(own - lse_main).to(out_main.dtype)
    return out_main + weight * (v_own - out_main)


def split_heads(qkv: Tensor, num_heads: int) -> Tuple[Tensor, Tensor, Tensor]:
    """``(B, L, 3C)`` qkv projections -> q, k, v of shape ``(B, H, L, C/H)``."""
    batch, length, _ = qkv.shape
    qkv = qkv.reshape(batch, length, 3, num_heads, -1).permute(2, 0, 3, 1, 4)
    # unbind, not qkv[i]: each index's backward zero-fills a full-size
    # gradient buffer (three of them per block), unbind's stacks the three
    return qkv.unbind(0)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, H, L, C/H)`` -> ``(B, L, C)``."""
    batch, _, length, _ = x.shape
    return x.transpose(1, 2).reshape(batch, length, -1)


def one_way_block(layer: TransformerEncoderLayer, x_main: Tensor,
                  x_aux: Tensor, aux_keys: Optional[Tensor] = None
                  ) -> Tuple[Tensor, Tensor]:
    """Run an mmpretrain ``TransformerEncoderLayer`` with one-way auxiliary
    attention.

    Args:
        layer (TransformerEncoderLayer): The block (its weights are shared by
            main and auxiliary tokens).
        x_main (Tensor): ``(B, L, C)`` global + patch tokens.
        x_aux (Tensor): ``(B, N, C)`` auxiliary tokens, ``N`` may be 0.
        aux_keys (Tensor, optional): ``(B, N, L)`` bool: the main tokens
            each auxiliary token may attend to (besides itself); all when
            None. The main tokens are unaffected.

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
    out_aux = aux_attention(q[:, :, num_main:], k, v, num_main, dropout_p,
                            aux_keys=aux_keys)
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
    out = aux_attention(q[:, :, num_context:], k, v, num_context,
                        attn.attn_drop if attn.training else 0.)
    return finish_block(layer, x_query, out)
