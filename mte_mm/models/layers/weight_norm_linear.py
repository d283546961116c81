"""Weight-normalised linear layer (Salimans & Kingma, 2016) that survives
``copy.deepcopy``, unlike the legacy ``nn.utils.weight_norm`` hook."""
import torch
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn


class WeightNormLinear(nn.Module):
    """``y = x W^T`` with ``W = g * v / ||v||`` (row-wise), no bias.

    Parameter names ``weight_g`` / ``weight_v`` match the legacy
    ``weight_norm`` state dict, so DINO-style checkpoints load. ``g`` starts
    at 1; with ``fix_norm=True`` (DINO's ``norm_last_layer``) it stays 1.

    Args:
        in_features (int): Input dimension.
        out_features (int): Output dimension.
        fix_norm (bool): Freeze ``g`` at 1.
    """

    def __init__(self, in_features: int, out_features: int,
                 fix_norm: bool = True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight_v = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_g = nn.Parameter(
            torch.ones(out_features, 1), requires_grad=not fix_norm)
        trunc_normal_(self.weight_v, std=0.02)

    @property
    def weight(self) -> Tensor:
        return self.weight_g * F.normalize(self.weight_v, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_features)`` -> ``(..., out_features)``."""
        g, v = self.weight_g, self.weight_v
        # x (g v / |v|)^T == (x v^T) * (g / |v|)^T: scaling the output columns
        # avoids materialising (and back-propagating through) a normalised
        # copy of the out x in weight matrix (65536 x 256 in DINO) per call.
        scale = (g / v.norm(dim=1, keepdim=True).clamp_min(1e-12)).view(-1)
        return F.linear(x, v) * scale

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, '
                f'out_features={self.out_features}, '
                f'fix_norm={not self.weight_g.requires_grad}')
