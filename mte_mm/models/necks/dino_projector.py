"""DINO's projector (Caron et al., "Emerging Properties in Self-Supervised
Vision Transformers", ICCV 2021), which the original code calls its head;
a neck-side module here, as in mmpretrain's split (the criterion is the
head, :class:`DINOSlotHead`)."""
from typing import Optional

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from ...registry import MODELS

from ..layers.weight_norm_linear import WeightNormLinear
from ..utils.precision import at_least_float32


@MODELS.register_module()
class DINOProjector(BaseModule):
    """MLP (``num_layers`` Linear layers, GELU, optional BN) to a bottleneck,
    L2 normalisation, then a weight-normalised linear layer without bias.

    Defaults are the public DINO recipe: hidden 2048, bottleneck 256,
    out 65536, ``norm_last_layer=True`` (ViT-S 100 ep; the 300/800-epoch
    recipes use ``norm_last_layer=False``).

    Args:
        in_channels (int): Token dimension of the backbone.
        out_channels (int): Number of prototypes K. Defaults to 65536.
        hidden_channels (int): MLP width. Defaults to 2048.
        bottleneck_channels (int): Defaults to 256.
        num_layers (int): Linear layers in the MLP. Defaults to 3.
        use_bn (bool): BatchNorm after hidden layers. Defaults to False.
        norm_last_layer (bool): Fix the last layer's weight norm ``g`` at 1.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 65536,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 use_bn: bool = False,
                 norm_last_layer: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if num_layers < 1:
            raise ValueError('DINOProjector: num_layers must be >= 1, got '
                             f'{num_layers}')
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + \
            [bottleneck_channels]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                if use_bn:
                    layers.append(nn.BatchNorm1d(dims[i + 1]))
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.last_layer = WeightNormLinear(
            bottleneck_channels, out_channels, fix_norm=norm_last_layer)
        self._reset_mlp()

    def _reset_mlp(self) -> None:
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        super().init_weights()
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            self._reset_mlp()

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_channels)`` tokens -> ``(..., out_channels)`` logits."""
        shape = x.shape[:-1]
        x = self.mlp(x.reshape(-1, x.shape[-1]))
        # in float32 under autocast too: F.normalize's eps (1e-12) is 0 in
        # float16
        x = F.normalize(at_least_float32(x), dim=-1)
        x = self.last_layer(x)
        return x.reshape(*shape, self.last_layer.out_features)
