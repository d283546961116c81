"""Multi-Token Enhancing (MTE, Li et al., arXiv 2411.15787) on backbones
whose last stage is a feature map (ConvNeXt, Swin): the token dict of
:class:`MTEVisionTransformer` from any mmpretrain backbone, without a copy
of it. Checkpoint conversion to the plain backbone is beside it."""
from typing import Dict, Mapping, Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from torch import Tensor, nn

from ...registry import MODELS
from ..layers.aux_token_attention import (aux_key_mask, class_attention_block,
                                          split_heads)
from ..utils.mte_rng import mte_only_rng

ADAPTER_PREFIX = 'backbone.'


@MODELS.register_module()
class FeatureMapTokenAdapter(BaseModule):
    """Tokens of a feature-map backbone, by kind (``forward_tokens``), while
    :meth:`forward` stays exactly the wrapped backbone's.

    * Patch tokens: the last stage's map ``(B, C, h, w)`` after the
      backbone's own final norm of that stage, as ``(B, h * w, C)``; the
      neck pools them (:class:`MultiTokenNeck`) as it pools ViT patches.
    * Global token: the backbone's own image feature, what its classifier
      reads: with ``gap_before_final_norm=True`` (mmpretrain's ConvNeXt
      default) the backbone's output ``norm(mean(map))``; for a backbone
      that outputs the (normed) map (Swin, ResNet), its global average (the
      ``GlobalAveragePooling`` neck of mmpretrain's classifiers, the
      average pool of the ``NonLinearNeck`` of mmpretrain's BYOL, SimSiam
      and Barlow Twins recipes).
    * Auxiliary tokens (``num_aux_tokens``, default 0; our choice, as the
      paper's auxiliary CLS tokens need a token sequence): N learnable
      queries that read the patch tokens through one class-attention block
      (CaiT; each query attends to the patches and itself), then a
      LayerNorm. Training only: :meth:`forward` never runs them, so the
      exported backbone is the plain one at zero extra cost.

    Args:
        backbone (dict): Config of an mmpretrain backbone whose
            ``out_indices`` include its last stage: one with ``stages`` and
            a final norm ``norm<i>`` of its last stage
            (``mmpretrain.ConvNeXt``, ``mmpretrain.SwinTransformer``) or a
            ResNet (``mmpretrain.ResNet``, ``ResNetV1d``, ...).
        num_aux_tokens (int): N. Defaults to 0.
        aux_num_heads (int, optional): Heads of the class-attention block.
            Defaults to channels // 64.
        aux_mlp_ratio (float): FFN width of that block / channels.
            Defaults to 4.
        aux_init_std (float): Std of the auxiliary tokens' init. Defaults
            to 0.02.
    """

    def __init__(self,
                 backbone: dict,
                 num_aux_tokens: int = 0,
                 aux_num_heads: Optional[int] = None,
                 aux_mlp_ratio: float = 4.0,
                 aux_init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if num_aux_tokens < 0:
            raise ValueError('FeatureMapTokenAdapter: num_aux_tokens must '
                             f'be >= 0, got {num_aux_tokens}')
        self.backbone = MMPRETRAIN_MODELS.build(backbone)
        name = type(self.backbone).__name__
        stages = self._stages()
        if stages is None:
            raise TypeError(
                f'FeatureMapTokenAdapter: {name} has no `stages` or '
                '`res_layers`; supported are backbones with stages and a '
                'final norm per output stage (mmpretrain.ConvNeXt, '
                'mmpretrain.SwinTransformer) and the ResNet family')
        self.last_stage = len(stages) - 1
        out_indices = [i % len(stages)
                       for i in getattr(self.backbone, 'out_indices', [])]
        if self.last_stage not in out_indices:
            raise ValueError(
                f'FeatureMapTokenAdapter: the {name} config must output its '
                f'last stage: set model.backbone.backbone.out_indices to '
                f'include {self.last_stage} (or -1), got '
                f'{getattr(self.backbone, "out_indices", None)}')
        # ResNets output the last stage's map itself (no final norm): the
        # global token is its average, what mmpretrain's necks pool
        self.has_final_norm = not hasattr(self.backbone, 'res_layers')
        if self.has_final_norm and \
                not hasattr(self.backbone, f'norm{self.last_stage}'):
            raise TypeError(f'FeatureMapTokenAdapter: {name} has no final '
                            f'norm `norm{self.last_stage}` of its last stage')
        self.gap_before_final_norm = getattr(self.backbone,
                                             'gap_before_final_norm', False)
        self.embed_dims = self._final_norm().weight.shape[0] \
            if self.has_final_norm else self.backbone.feat_dim
        self.num_aux_tokens = num_aux_tokens
        if num_aux_tokens:
            dims = self.embed_dims
            with mte_only_rng('feature_map_aux'):  # see mte_only_rng
                self.aux_tokens = nn.Parameter(
                    torch.zeros(1, num_aux_tokens, dims))
                trunc_normal_(self.aux_tokens, std=aux_init_std)
                self.aux_block = TransformerEncoderLayer(
                    embed_dims=dims,
                    num_heads=aux_num_heads or max(1, dims // 64),
                    feedforward_channels=int(aux_mlp_ratio * dims))
            self.aux_norm = nn.LayerNorm(dims, eps=1e-6)
        else:
            self.aux_tokens = None

    def init_weights(self) -> None:
        """The wrapped backbone's init; the class-attention block first, from
        its own stream (:func:`mte_only_rng`)."""
        if self.aux_tokens is not None and not self.aux_block.is_init:
            with mte_only_rng('feature_map_aux'):
                self.aux_block.init_weights()
        super().init_weights()

    def _stages(self) -> Optional[list]:
        """The backbone's stages (ConvNeXt, Swin: ``stages``; ResNet:
        ``res_layers`` names its stage modules), or None."""
        stages = getattr(self.backbone, 'stages', None)
        if isinstance(stages, nn.ModuleList):
            return list(stages)
        names = getattr(self.backbone, 'res_layers', None)
        if names:
            return [getattr(self.backbone, n) for n in names]
        return None

    def _final_norm(self) -> nn.Module:
        # looked up, not stored: an attribute would register it twice
        return getattr(self.backbone, f'norm{self.last_stage}')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Exactly the wrapped backbone's forward."""
        return self.backbone(x)

    def forward_tokens(self, x: Tensor, with_aux: bool = True,
                       mask: Optional[Tensor] = None) -> Dict:
        """``x_norm_clstoken`` (B, C), ``x_norm_auxtokens`` (B, N, C),
        ``x_norm_patchtokens`` (B, h * w, C), ``patch_resolution`` (h, w)."""
        if mask is not None:
            raise ValueError('FeatureMapTokenAdapter has no mask token: '
                             'masked-image methods (iBOT) need a ViT')
        patches, global_token, hw = self._global_and_patches(x)
        batch = x.shape[0]
        if with_aux and self.aux_tokens is not None:
            aux = self.aux_norm(class_attention_block(
                self.aux_block, patches,
                self.aux_tokens.expand(batch, -1, -1)))
        else:
            aux = patches.new_zeros(batch, 0, patches.shape[2])
        return dict(x_norm_clstoken=global_token, x_norm_auxtokens=aux,
                    x_norm_patchtokens=patches, patch_resolution=hw)

    def _global_and_patches(self, x: Tensor
                            ) -> Tuple[Tensor, Tensor, Tuple[int, int]]:
        if not self.gap_before_final_norm:
            fmap = self.backbone(x)[-1]  # the normed last-stage map
            patches = fmap.flatten(2).transpose(1, 2)
            return patches, patches.mean(1), tuple(fmap.shape[-2:])
        # the backbone outputs norm(mean(map)); the map itself is read from
        # the last stage in the same forward
        stage_out = {}
        handle = self._stages()[self.last_stage].register_forward_hook(
            lambda module, args, out: stage_out.__setitem__('map', out))
        try:
            global_token = self.backbone(x)[-1]
        finally:
            handle.remove()
        fmap = self._final_norm()(stage_out['map'])
        return fmap.flatten(2).transpose(1, 2), global_token, \
            tuple(fmap.shape[-2:])

    @torch.no_grad()
    def last_layer_attention(self, x: Tensor) -> Dict:
        """Where each token reads the last-stage grid: ``global_map``
        (B, P), the global average pool's uniform weights; ``aux``
        (B, N, P), the class attention over the patches (mean over
        heads); ``patch_resolution``."""
        tokens = self.forward_tokens(x, with_aux=False)
        patches = tokens['x_norm_patchtokens']
        batch, num_patches = patches.shape[:2]
        global_map = patches.new_full((batch, num_patches), 1.0 / num_patches)
        if self.aux_tokens is None:
            return dict(global_map=global_map,
                        aux=patches.new_zeros(batch, 0, num_patches),
                        patch_resolution=tokens['patch_resolution'])
        layer = self.aux_block
        queries = self.aux_tokens.expand(batch, -1, -1)
        q, k, _ = split_heads(layer.attn.qkv(layer.ln1(torch.cat(
            [patches, queries], 1))), layer.attn.num_heads)
        scores = q[:, :, num_patches:] @ k.transpose(-1, -2) * \
            layer.attn.head_dims**-0.5
        probs = (scores + aux_key_mask(num_patches, queries.shape[1],
                                       q)).softmax(-1)
        return dict(global_map=global_map,
                    aux=probs[..., :num_patches].mean(1),
                    patch_resolution=tokens['patch_resolution'])

    # -- export: the wrapped backbone (tools/export_backbone.py) ------------
    supports_pooled_export = False

    @property
    def export_kind(self) -> str:
        """The wrapped backbone's name, in the exported file names."""
        return type(self.backbone).__name__.lower()

    def export_config(self, cfg: Mapping) -> dict:
        """The wrapped backbone's config (:func:`plain_backbone_config`)."""
        return plain_backbone_config(cfg)

    def export_state_dict(self) -> Dict[str, Tensor]:
        """The wrapped backbone's weights (:func:`plain_backbone_state`)."""
        return plain_backbone_state(self.state_dict())

    @torch.no_grad()
    def export_errors(self, plain: nn.Module, images: Tensor
                      ) -> Dict[str, float]:
        """Largest absolute difference of each output of ``plain`` (the
        exported backbone) from this adapter's :meth:`forward` (the wrapped
        backbone's own outputs) on ``images``."""
        outputs, wanted = plain(images), self(images)
        if len(outputs) != len(wanted):
            return {f'{type(plain).__name__} output count '
                    f'{len(outputs)} != {len(wanted)}': float('inf')}
        return {f'{type(plain).__name__} output {i}':
                (got - want).abs().max().item()
                for i, (got, want) in enumerate(zip(outputs, wanted))}


def plain_backbone_config(adapter_cfg: Mapping) -> dict:
    """The wrapped backbone's config as a stock OpenMMLab config names it
    (``type='mmpretrain.<Name>'``), without training-only drop-path."""
    cfg = dict(adapter_cfg['backbone'])
    name = cfg['type'].split('.')[-1]
    cfg.pop('init_cfg', None)
    cfg.pop('drop_path_rate', None)
    return dict(cfg, type=f'mmpretrain.{name}')


def plain_backbone_state(adapter_state: Mapping[str, Tensor]
                         ) -> Dict[str, Tensor]:
    """The wrapped backbone's weights from an adapter's state dict (the
    auxiliary tokens and their block dropped)."""
    return {key[len(ADAPTER_PREFIX):]: value
            for key, value in adapter_state.items()
            if key.startswith(ADAPTER_PREFIX)}
