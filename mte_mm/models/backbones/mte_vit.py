"""Vision Transformer with Multi-Token Enhancing tokens (MTE, Li et al.,
"Multi-Token Enhancing for Vision Representation Learning", arXiv 2411.15787).
"""
import inspect
from typing import Dict, Mapping, Optional, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor, nn

from ...registry import MODELS
from ..layers.aux_token_attention import full_block, one_way_block
from ..utils.mte_rng import mte_only_rng
from .convert import MTE_ONLY_KEYS, mmpretrain_vit_to_timm, timm_vit

AUX_ATTENTION_MODES = ('one_way', 'full')
# VisionTransformer arguments the exported inference backbone leaves out
# (a downstream config sets its own drop-path, freezing and init)
EXPORT_DROPPED = ('self', 'init_cfg', 'drop_path_rate', 'frozen_stages')
# options of the fine-tuning / probing ViT (TransferViT), not of pretraining
DOWNSTREAM_ARGS = ('window_size', 'global_attn_indices', 'norm_intermediate')


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
                 use_mask_token: bool = False,
                 aux_patch_keep: float = 1.0,
                 **kwargs):
        if not kwargs.get('with_cls_token', True):
            raise ValueError('MTEVisionTransformer needs with_cls_token=True '
                             '(the global token MTE distils into)')
        if aux_attention not in AUX_ATTENTION_MODES:
            raise ValueError(f'aux_attention={aux_attention!r}, expected one '
                             f'of {AUX_ATTENTION_MODES}')
        moved = sorted(set(kwargs) & set(DOWNSTREAM_ARGS))
        if moved:
            raise TypeError(
                f'MTEVisionTransformer: {", ".join(moved)} moved to the '
                "downstream backbone type='mte_mm.TransferViT' (it loads the "
                'exported plain ViT)')
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
        for i, layer in enumerate(self.layers):
            if aux is None:
                x = layer(x)
            elif self.aux_attention == 'one_way':
                x, aux = one_way_block(layer, x, aux, aux_keys)
            else:
                x, aux = full_block(layer, x, aux)
            if i == last and self.final_norm:
                x = self.ln1(x)
                aux = None if aux is None else self.ln1(aux)
            if collect and i in self.out_indices:
                outs.append(self._format_output(x, hw))
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

    # -- export: the plain backbone (tools/export_backbone.py) --------------
    supports_pooled_export = True
    export_kind = 'vit'  # in the exported file names

    def export_config(self, cfg: Mapping) -> dict:
        """The ``mmpretrain.VisionTransformer`` config of this backbone's
        config ``cfg``: the arguments ``VisionTransformer`` takes (MTE's and
        training-only ones dropped), a named arch as its dict (an arch such
        as ``'mocov3-small'`` exists only in this class's ``arch_zoo``)."""
        accepted = set(inspect.signature(
            VisionTransformer.__init__).parameters) - set(EXPORT_DROPPED)
        plain = {k: v for k, v in cfg.items() if k in accepted}
        arch = plain.get('arch')
        if isinstance(arch, str) and arch.lower() in self.arch_zoo:
            plain['arch'] = dict(self.arch_zoo[arch.lower()])
        return dict(plain, type='mmpretrain.VisionTransformer')

    def export_state_dict(self) -> Dict[str, Tensor]:
        """The plain ViT's weights: this state without the MTE-only keys."""
        return {k: v for k, v in self.state_dict().items()
                if not MTE_ONLY_KEYS.match(k)}

    @torch.no_grad()
    def export_errors(self, plain: nn.Module, images: Tensor
                      ) -> Dict[str, float]:
        """Largest absolute difference between every last-layer token of
        ``plain`` (the exported ViT) and this backbone's global and patch
        tokens on ``images``."""
        tokens = self.forward_tokens(images, with_aux=False)
        want = torch.cat([tokens['x_norm_clstoken'][:, None],
                          tokens['x_norm_patchtokens']], dim=1)
        out_type, out_indices = plain.out_type, plain.out_indices
        plain.out_type, plain.out_indices = 'raw', [len(plain.layers) - 1]
        try:
            got = plain(images)[0]
        finally:
            plain.out_type, plain.out_indices = out_type, out_indices
        return {'mmpretrain ViT': (got - want).abs().max().item()}

    @torch.no_grad()
    def export_timm(self, cfg: Mapping, images: Tensor
                    ) -> Tuple[Dict[str, Tensor], float]:
        """The timm ``VisionTransformer`` state dict of the plain ViT and its
        largest token difference from this backbone on ``images``."""
        timm_sd = mmpretrain_vit_to_timm(self.export_state_dict())
        model = timm_vit(self.export_config(cfg))
        model.load_state_dict(timm_sd)
        model.eval()
        tokens = self.forward_tokens(images, with_aux=False)
        want = torch.cat([tokens['x_norm_clstoken'][:, None],
                          tokens['x_norm_patchtokens']], dim=1)
        return timm_sd, (model.forward_features(images) - want).abs().max(
        ).item()
