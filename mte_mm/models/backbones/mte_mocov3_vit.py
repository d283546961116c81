"""MoCo v3's ViT (Chen, Xie, He, ICCV 2021) with the auxiliary CLS tokens of
Multi-Token Enhancing (MTE, arXiv 2411.15787)."""
from mmpretrain.models import MoCoV3ViT

from ...registry import MODELS
from .mte_vit import MTEVisionTransformer


@MODELS.register_module()
class MTEMoCoV3ViT(MTEVisionTransformer, MoCoV3ViT):
    """mmpretrain's ``MoCoV3ViT`` (frozen random patch projection with
    ``stop_grad_conv1``, fixed 2-D sin-cos position embedding, MoCo v3's
    initialisation) plus :class:`MTEVisionTransformer`'s auxiliary tokens
    and ``forward_tokens``.

    With ``num_aux_tokens=0`` it is ``MoCoV3ViT`` with the same weights and
    outputs, and it exports to a plain ``VisionTransformer`` like the MTE
    ViT (the sin-cos embedding is saved as ``pos_embed``).

    Args:
        stop_grad_conv1 (bool): Freeze the patch projection (MoCo v3's
            recipe). Defaults to False (as mmpretrain).
        **kwargs: Arguments of :class:`MTEVisionTransformer` and
            ``MoCoV3ViT`` (``arch='mocov3-small'`` is MoCo v3's ViT-S with 12
            heads; ``patch_size`` is required).
    """

    # MoCoV3ViT adds its ViT-S to the shared VisionTransformer.arch_zoo only
    # when one is built; a table of its own names it up front (asked by
    # reduced_depth) and keeps VisionTransformer's table as mmpretrain ships it
    arch_zoo = {
        **MoCoV3ViT.arch_zoo,
        **dict.fromkeys(['mocov3-s', 'mocov3-small'], {
            'embed_dims': 384, 'num_layers': 12, 'num_heads': 12,
            'feedforward_channels': 1536})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            # MoCoV3ViT freezes its sin-cos position embedding only in
            # init_weights(), which the Runner calls after wrapping the model
            # in DDP: DDP would then wait for a gradient that never comes
            # (why mmpretrain's configs set find_unused_parameters=True).
            # Freezing it here, as init_weights() will, avoids that cost.
            self.pos_embed.requires_grad = False
