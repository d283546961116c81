"""Vision Transformer with Multi-Token Enhancing tokens (MTE, Li et al.,
"Multi-Token Enhancing for Vision Representation Learning", arXiv 2411.15787).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor, nn

from ...registry import MODELS

from ..layers.aux_token_attention import full_block, one_way_block
from ..layers.window_attention import window_block
from ..utils.mte_rng import mte_only_rng
from .convert import MTE_ONLY_KEYS

AUX_ATTENTION_MODES = ('one_way', 'full')


@MODELS.register_module()
class MTEVisionTransformer(VisionTransformer):
    """mmpretrain ViT plus MTE's auxiliary CLS tokens.

    Sequence: ``[g + pos_0, a_1..a_N, z_1 + pos_1, ..., z_P + pos_P]``. The
    auxiliary tokens ``a_n`` are learnable and carry no position embedding
    (like DINOv2's registers), so a plain ``VisionTransformer`` loads this
    model's checkpoint by dropping ``aux_tokens``. (The adaptively pooled
    tokens are made from the patch tokens by the neck,
    :class:`MultiTokenNeck`, so that every backbone gets them.)

    With ``aux_attention='one_way'`` (default) the global and patch tokens
    never attend to the auxiliary tokens and each ``a_n`` attends to the global
    token, the patches and itself: the global/patch outputs equal those of a
    plain ViT with the same weights, and :meth:`forward` (the mmpretrain
    contract used by classifiers, detectors and segmentors) skips the
    auxiliary tokens entirely, so inference costs nothing extra.
    ``'full'`` (ablation) lets all tokens attend to all.

    :meth:`forward_tokens` returns every token kind by name (DINOv2 style):
    ``x_norm_clstoken`` (B, C), ``x_norm_auxtokens`` (B, N, C),
    ``x_norm_patchtokens`` (B, P, C) and ``patch_resolution``.

    Args:
        num_aux_tokens (int): N auxiliary CLS tokens. Defaults to 4.
        aux_attention (str): ``'one_way'`` or ``'full'``.
        aux_init_std (float): Std of the truncated-normal init of the
            auxiliary tokens (distinct inits make the ensemble members
            differ). Defaults to 0.02.
        use_mask_token (bool): A learnable ``mask_token`` (zero init, as
            iBOT) that replaces the embeddings of the patches masked in
            ``forward_tokens(x, mask=...)``, before the position embedding
            (masked patches keep their position). Training-only: the
            exported plain ViT drops it. Defaults to False (no parameter).
        norm_intermediate (bool): Apply the final norm to the outputs of
            every ``out_indices`` block, not only the last (DINO's linear
            probe reads normed CLS tokens of the last n blocks). Defaults to
            False (mmpretrain's behaviour).
        window_size (int): For dense-task fine-tuning (ViTDet, Li et al.
            2022): patch tokens of the blocks not in ``global_attn_indices``
            attend within non-overlapping ``window_size`` x ``window_size``
            windows (the CLS token skips those blocks). 0 (default): global
            attention everywhere. Only :meth:`forward` supports windows.
        global_attn_indices (Sequence[int]): Blocks that keep global
            attention when ``window_size > 0`` (ViTDet, 12 blocks:
            ``(2, 5, 8, 11)``). Defaults to ().
        aux_patch_keep (float): Bagging of the auxiliary tokens (our
            option; the paper does not describe one): at every gradient step
            (training mode, gradients on: the student, never the no-grad
            teacher nor inference) each auxiliary token of each image
            attends, in every block, to its own random subset of
            ``round(aux_patch_keep * P)`` patch tokens (at least one), the
            global token and itself, so the ensemble members see different
            evidence as in bagging. Drawn from the global torch generator
            (which ``ExactResumeHook`` seeds per iteration). The global and
            patch tokens are unaffected; the subsets cost one masked
            attention call for the N auxiliary queries per block, also on
            CUDA where the unbagged auxiliary path is mask-free. 1.0
            (default): every patch, no draw.
        **kwargs: Arguments of :class:`mmpretrain.models.VisionTransformer`
            (``arch``, ``img_size``, ``patch_size``, ``out_type``, ...).
            ``with_cls_token`` must stay True (the global token).
    """

    def __init__(self,
                 *args,
                 num_aux_tokens: int = 4,
                 aux_attention: str = 'one_way',
                 aux_init_std: float = 0.02,
                 norm_intermediate: bool = False,
                 window_size: int = 0,
                 global_attn_indices: Sequence[int] = (),
                 use_mask_token: bool = False,
                 aux_patch_keep: float = 1.0,
                 **kwargs):
        if not kwargs.get('with_cls_token', True):
            raise ValueError('MTEVisionTransformer needs with_cls_token=True '
                             '(the global token MTE distils into)')
        if aux_attention not in AUX_ATTENTION_MODES:
            raise ValueError(f'aux_attention={aux_attention!r}, expected one '
                             f'of {AUX_ATTENTION_MODES}')
        # num_pooled_tokens=0 in configs of earlier versions (det/seg
        # fine-tuning) meant nothing to do: still accepted
        if kwargs.get('num_pooled_tokens', 0) == 0:
            kwargs.pop('num_pooled_tokens', None)
        else:
            raise TypeError(
                'MTEVisionTransformer: num_pooled_tokens moved to the neck '
                "(model.neck=dict(type='MultiTokenNeck', num_pooled_tokens="
                f"{kwargs['num_pooled_tokens']}, ...)); see the README's "
                'MTE-DINO section for the config layout')
        if num_aux_tokens < 0:
            raise ValueError('num_aux_tokens must be >= 0, got '
                             f'{num_aux_tokens}')
        if not 0 < aux_patch_keep <= 1:
            raise ValueError('aux_patch_keep must be in (0, 1], got '
                             f'{aux_patch_keep}')
        if aux_patch_keep < 1 and aux_attention != 'one_way':
            raise ValueError("aux_patch_keep < 1 needs aux_attention="
                             "'one_way'")
        super().__init__(*args, **kwargs)
        self.num_aux_tokens = num_aux_tokens
        self.aux_attention = aux_attention
        self.aux_init_std = aux_init_std
        self.aux_patch_keep = aux_patch_keep
        self.norm_intermediate = norm_intermediate
        self.window_size, self.global_attn_indices = self._check_windows(
            window_size, global_attn_indices)
        # no parameter at all for N = 0, so the DINO baseline is a plain ViT
        self.aux_tokens = nn.Parameter(
            torch.zeros(1, num_aux_tokens, self.embed_dims)) \
            if num_aux_tokens > 0 else None
        if self.aux_tokens is not None:
            with mte_only_rng('aux_tokens'):
                trunc_normal_(self.aux_tokens, std=aux_init_std)
        # iBOT's masked-image modeling (Zhou et al., ICLR 2022)
        self.mask_token = nn.Parameter(torch.zeros(1, self.embed_dims)) \
            if use_mask_token else None

    def _check_windows(self, window_size: int,
                       global_attn_indices: Sequence[int]):
        depth = len(self.layers)
        if window_size < 0:
            raise ValueError(f'window_size must be >= 0, got {window_size}')
        indices = []
        for index in global_attn_indices:
            if not -depth <= index < depth:
                raise ValueError(
                    f'global_attn_indices={list(global_attn_indices)}: '
                    f'block {index} does not exist in a {depth}-block ViT')
            indices.append(index % depth)
        if window_size and self.aux_attention == 'full' and \
                self.num_aux_tokens:
            raise ValueError('window_size > 0 needs aux_attention='
                             "'one_way' (or num_aux_tokens=0)")
        return window_size, tuple(sorted(indices))

    def init_weights(self) -> None:
        super().init_weights()
        if self.aux_tokens is not None and not (
                isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            with mte_only_rng('aux_tokens'):
                trunc_normal_(self.aux_tokens, std=self.aux_init_std)

    # -- token computation -------------------------------------------------
    def _embed(self, x: Tensor, mask: Optional[Tensor] = None
               ) -> Tuple[Tensor, Tensor, Tuple[int, int]]:
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        if mask is not None:
            x = torch.where(self._check_mask(mask, x)[..., None],
                            self.mask_token.to(x.dtype), x)
        x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed, self.patch_resolution, patch_resolution,
            mode=self.interpolate_mode, num_extra_tokens=self.num_extra_tokens)
        x = self.pre_norm(self.drop_after_pos(x))
        if self.aux_tokens is None:
            aux = x.new_zeros(batch, 0, x.shape[2])
        else:
            aux = self.pre_norm(
                self.drop_after_pos(self.aux_tokens.expand(batch, -1, -1)))
        return x, aux, patch_resolution

    def draw_aux_keys(self, x: Tensor, num_aux: int) -> Optional[Tensor]:
        """The bags of ``aux_patch_keep``: ``(B, N, L)`` bool over the main
        tokens ``x`` (``(B, L, C)``; the global token always kept), or None
        when every auxiliary token sees every patch."""
        if self.aux_patch_keep >= 1 or num_aux == 0 or not (
                self.training and torch.is_grad_enabled()):
            return None
        batch, num_main = x.shape[:2]
        num_patches = num_main - self.num_extra_tokens
        keep = max(1, round(self.aux_patch_keep * num_patches))
        order = torch.rand(batch, num_aux, num_patches,
                           device=x.device).argsort(dim=-1)
        bag = torch.zeros(batch, num_aux, num_patches, dtype=torch.bool,
                          device=x.device).scatter_(-1, order[..., :keep],
                                                    True)
        extra = bag.new_ones(batch, num_aux, self.num_extra_tokens)
        return torch.cat([extra, bag], dim=-1)

    def _run_blocks(self, x: Tensor, aux: Optional[Tensor],
                    hw: Tuple[int, int], collect: bool):
        """Run every block; ``aux=None`` skips the auxiliary path."""
        aux_keys = None if aux is None else self.draw_aux_keys(
            x, aux.shape[1])
        outs = []
        last = len(self.layers) - 1
        if aux is not None and self.window_size:
            raise RuntimeError(
                'window attention (window_size > 0) is for dense-task '
                'fine-tuning through forward(); auxiliary tokens need global '
                'attention')
        for i, layer in enumerate(self.layers):
            if aux is None and self.window_size and \
                    i not in self.global_attn_indices:
                x = window_block(layer, x, hw, self.window_size,
                                 self.num_extra_tokens)
            elif aux is None:
                x = layer(x)
            elif self.aux_attention == 'one_way':
                x, aux = one_way_block(layer, x, aux, aux_keys)
            else:
                x, aux = full_block(layer, x, aux)
            if i == last and self.final_norm:
                x = self.ln1(x)
                aux = None if aux is None else self.ln1(aux)
            if collect and i in self.out_indices:
                normed = self.norm_intermediate and self.final_norm and \
                    i != last
                outs.append(self._format_output(
                    self.ln1(x) if normed else x, hw))
        return x, aux, outs

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """mmpretrain's contract: a tuple with one output per ``out_indices``
        entry, formatted by ``out_type``; auxiliary tokens never appear in it.
        In ``'one_way'`` mode they are not computed at all."""
        x, aux, hw = self._embed(x)
        needs_aux = self.aux_attention == 'full' and self.num_aux_tokens > 0
        return tuple(self._run_blocks(x, aux if needs_aux else None, hw,
                                      collect=True)[2])

    def _check_mask(self, mask: Tensor, patches: Tensor) -> Tensor:
        """``(B, h, w)`` or ``(B, P)`` bool mask -> ``(B, P)``."""
        if self.mask_token is None:
            raise ValueError('forward_tokens got a mask but the backbone has '
                             'no mask token (set use_mask_token=True)')
        batch, num_patches = patches.shape[:2]
        if mask.dtype != torch.bool or mask.shape[0] != batch or \
                mask[0].numel() != num_patches:
            raise ValueError(
                f'mask: expected a bool tensor of {batch} images x '
                f'{num_patches} patches, got {mask.dtype} of shape '
                f'{tuple(mask.shape)}')
        return mask.reshape(batch, num_patches)

    def forward_tokens(self, x: Tensor, with_aux: bool = True,
                       mask: Optional[Tensor] = None) -> Dict:
        """All last-layer tokens by kind (see the class docstring).

        With ``with_aux=False`` the auxiliary tokens are neither computed
        nor returned (empty), as at inference (``'one_way'`` only). ``mask``
        ``(B, h, w)`` or ``(B, P)`` (True = masked, needs
        ``use_mask_token``) replaces those patch embeddings by the mask
        token; :meth:`forward` never takes a mask.
        """
        x, aux, hw = self._embed(x, mask)
        skip_aux = not with_aux and self.aux_attention == 'one_way'
        x, aux, _ = self._run_blocks(x, None if skip_aux else aux, hw,
                                     collect=False)
        if aux is None:
            aux = x.new_zeros(x.shape[0], 0, x.shape[2])
        return dict(
            x_norm_clstoken=x[:, 0],
            x_norm_auxtokens=aux,
            x_norm_patchtokens=x[:, self.num_extra_tokens:],
            patch_resolution=hw)

    @torch.no_grad()
    def last_layer_attention(self, x: Tensor) -> Dict:
        """Last-block attention of the global token and of each auxiliary
        token over the patches (averaged over heads), for visualisation.

        Returns:
            dict: ``global_map`` (B, P), ``aux`` (B, N, P) and
            ``patch_resolution`` (h, w).
        """
        if self.window_size:
            raise RuntimeError('last_layer_attention needs global attention '
                               '(window_size=0)')
        x, aux, hw = self._embed(x)
        block = one_way_block if self.aux_attention == 'one_way' else full_block
        for layer in self.layers[:-1]:
            x, aux = block(layer, x, aux)
        layer, attn = self.layers[-1], self.layers[-1].attn

        def heads(t: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
            qkv = attn.qkv(layer.ln1(t))  # head dims explicit: N may be 0
            return qkv.reshape(*t.shape[:2], 3, attn.num_heads,
                               attn.head_dims).permute(2, 0, 3, 1,
                                                       4).unbind(0)

        scale = attn.head_dims**-0.5
        if self.aux_attention == 'full':
            q_all, k_all, _ = heads(torch.cat([x[:, :1], aux, x[:, 1:]], 1))
            probs = (q_all @ k_all.transpose(-1, -2) * scale).softmax(-1)
            n = aux.shape[1]
            patch = probs[..., 1 + n:]
            global_map, aux_maps = patch[:, :, 0], patch[:, :, 1:1 + n]
        else:
            q, k, _ = heads(x)
            global_map = (q[:, :, :1] @ k.transpose(-1, -2) * scale).softmax(
                -1)[:, :, 0, 1:]
            q_a, k_a, _ = heads(aux)
            scores = torch.cat([q_a @ k.transpose(-1, -2),
                                (q_a * k_a).sum(-1, keepdim=True)], -1)
            aux_maps = (scores * scale).softmax(-1)[..., 1:x.shape[1]]
        return dict(global_map=global_map.mean(1), aux=aux_maps.mean(1),
                    patch_resolution=hw)

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth for layer-wise lr decay: auxiliary tokens sit with the
        stem (like ``cls_token``)."""
        if param_name.startswith(prefix) and \
                param_name[len(prefix):] in ('aux_tokens', 'mask_token'):
            param_name = prefix + 'cls_token'
        return super().get_layer_depth(param_name, prefix)

    def mte_state_keys(self) -> List[str]:
        """State-dict keys that a plain ViT does not have."""
        return [k for k in self.state_dict() if MTE_ONLY_KEYS.match(k)]
