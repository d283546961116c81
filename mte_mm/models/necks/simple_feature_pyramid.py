"""ViTDet's simple feature pyramid (Li et al., "Exploring Plain Vision
Transformer Backbones for Object Detection", ECCV 2022): multi-scale maps
from the last feature map of a plain ViT. ViTDet's ``SimpleFPN`` is not in
the mmdet wheel; this is our implementation."""
from typing import Sequence, Tuple

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _scale_branch(channels: int, factor: float) -> Tuple[nn.Module, int]:
    """Up/down-sample a stride-s map to stride s / factor."""
    if factor == 4.0:
        return nn.Sequential(
            nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
            LayerNorm2d(channels // 2), nn.GELU(),
            nn.ConvTranspose2d(channels // 2, channels // 4, 2, stride=2)), \
            channels // 4
    if factor == 2.0:
        return nn.ConvTranspose2d(channels, channels // 2, 2, stride=2), \
            channels // 2
    if factor == 1.0:
        return nn.Identity(), channels
    if factor == 0.5:
        return nn.MaxPool2d(2, stride=2), channels
    raise ValueError(f'SimpleFeaturePyramid: scale factor {factor} is not '
                     'one of 4, 2, 1, 0.5')


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Feature maps at strides s/4, s/2, s, 2s (+ extra max-pooled levels)
    from a single stride-s map: (de)convolutions, then a 1x1 and a 3x3
    convolution with channel LayerNorm per level, as in ViTDet.

    Args:
        in_channels (int): Channels of the backbone map.
        out_channels (int): Channels of every output level.
        scale_factors (Sequence[float]): From ``(4, 2, 1, 0.5)``.
        num_outs (int): Output levels; extra levels max-pool the last one
            (stride 2), e.g. 5 for an RPN over strides 4..64.
    """

    def __init__(self, in_channels: int, out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 num_outs: int = 5, init_cfg=None):
        super().__init__(init_cfg)
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs={num_outs} < {len(scale_factors)} '
                             'scale factors')
        self.num_outs = num_outs
        self.stages = nn.ModuleList()
        for factor in scale_factors:
            resample, channels = _scale_branch(in_channels, float(factor))
            self.stages.append(nn.Sequential(
                resample,
                nn.Conv2d(channels, out_channels, 1, bias=False),
                LayerNorm2d(out_channels),
                nn.Conv2d(out_channels, out_channels, 3, padding=1,
                          bias=False),
                LayerNorm2d(out_channels)))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        x = inputs[-1]  # the last block's map
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
