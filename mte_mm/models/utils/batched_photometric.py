"""DINO's photometric augmentation (Caron et al., ICCV 2021) on a batch of
views at once, each view with its own parameters
(:class:`~mte_mm.datasets.transforms.PhotometricRecipe`), on whatever
device the batch is on.

Images are float RGB in ``[0, 255]``, ``(B, 3, H, W)``. Each operation
follows the per-image transform our CPU pipeline used (mmpretrain's
``ColorJitter`` / ``RandomGrayscale`` / ``GaussianBlur`` / ``Solarize``
over mmcv and Pillow), but in float: Pillow rounds to uint8 after every
operation and approximates the Gaussian by box blurs, so the two agree to
rounding, not bit for bit (``tests/test_models/test_utils/
test_batched_photometric.py`` states the tolerances).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from ...datasets.transforms.photometric_params import (BRIGHTNESS, CONTRAST,
                                                       HUE, PARAM_INDEX,
                                                       SATURATION)

# ITU-R 601-2 luma, as Pillow's convert('L') (ImageEnhance's degenerate)
LUMA = (0.299, 0.587, 0.114)
# mmcv RandomGrayscale with DINO's channel_weights (B, G, R) = (0.114, 0.587,
# 0.2989), normalised by their sum as mmcv does, in R, G, B order
GRAY_WEIGHTS = tuple(w / (0.2989 + 0.587 + 0.114) for w in (0.2989, 0.587,
                                                             0.114))


def _weighted_gray(x: Tensor, weights) -> Tensor:
    r, g, b = x.unbind(1)
    return (weights[0] * r + weights[1] * g + weights[2] * b).unsqueeze(1)


def _per_image(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with black (Pillow's ``ImageEnhance.Brightness``)."""
    return (x * _per_image(factor)).clamp_(0, 255)


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with the image's mean grey level, rounded to an integer as
    Pillow's ``ImageEnhance.Contrast`` does."""
    mean = torch.floor(_weighted_gray(x, LUMA).mean((2, 3), keepdim=True)
                       + 0.5)
    return (mean + _per_image(factor) * (x - mean)).clamp_(0, 255)


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with the grey image (Pillow's ``ImageEnhance.Color``)."""
    gray = _weighted_gray(x, LUMA)
    return (gray + _per_image(factor) * (x - gray)).clamp_(0, 255)


def adjust_hue(x: Tensor, factor: Tensor) -> Tensor:
    """Rotate the hue. mmcv's ``adjust_hue`` (Pillow backend) rotates the
    uint8 hue channel by ``int(factor * 255)`` of 256 steps; the same
    rotation is applied here to a float hue, so the distribution of shifts
    is the CPU pipeline's."""
    shift = torch.trunc(factor * 255) / 256
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    sat = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc,
                                                    torch.ones_like(maxc)),
                      torch.zeros_like(maxc))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = torch.where(maxc == r, bc - gc,
                      torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue))
    hue = torch.remainder(hue + shift.view(-1, 1, 1), 1.0)
    # back to RGB, branch-free: channel n in (R, G, B) = (5, 3, 1) is
    # v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h) mod 6
    h6 = hue * 6.0
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        channels.append(maxc - maxc * sat * torch.clamp(
            torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return torch.stack(channels, 1).clamp_(0, 255)


def to_grayscale(x: Tensor) -> Tensor:
    """mmcv's ``RandomGrayscale`` with three output channels, without its
    truncation to uint8."""
    return _weighted_gray(x, GRAY_WEIGHTS).expand_as(x).contiguous()


def gaussian_blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Separable Gaussian blur, one sigma per image (Pillow's
    ``GaussianBlur(radius=sigma)`` approximates the same Gaussian by box
    blurs), borders extended by replication as Pillow does. Each image's
    kernel covers +-ceil(3 sigma) of its own sigma (zero beyond), so its
    result does not depend on the other images of the batch."""
    sigma = sigma.to(x.dtype)
    radii = torch.ceil(3 * sigma).clamp(min=1)
    radius = int(radii.max())
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma.view(-1, 1)) ** 2)
    kernel = kernel * (taps.abs() <= radii.view(-1, 1))
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, K)
    batch, channels, height, width = x.shape
    kernel = kernel.repeat_interleave(channels, 0)  # (B*C, K)
    y = x.reshape(1, batch * channels, height, width)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode='replicate'),
                 kernel.view(-1, 1, 1, kernel.shape[1]),
                 groups=batch * channels)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode='replicate'),
                 kernel.view(-1, 1, kernel.shape[1], 1),
                 groups=batch * channels)
    return y.view(batch, channels, height, width)


def solarize(x: Tensor, threshold: float = 128.0) -> Tensor:
    """Invert the pixels at or above ``threshold`` (mmcv's ``solarize``)."""
    return torch.where(x < threshold, x, 255.0 - x)


JITTER_OPS = {BRIGHTNESS: (adjust_brightness, 'brightness'),
              CONTRAST: (adjust_contrast, 'contrast'),
              SATURATION: (adjust_saturation, 'saturation'),
              HUE: (adjust_hue, 'hue')}


def _apply_where(x: Tensor, selected: Tensor, op, *args) -> Tensor:
    """``op`` on the images where ``selected`` (others untouched); the
    images not selected cost nothing."""
    if not bool(selected.any()):
        return x
    if bool(selected.all()):
        return op(x, *args)
    index = selected.nonzero().squeeze(1)
    out = x.clone()
    out[index] = op(x[index], *(a[index] for a in args))
    return out


def apply_photometric(x: Tensor, params: Tensor) -> Tensor:
    """DINO's photometric augmentation of every view with its own
    parameters: flip, colour jitter in each view's own random order,
    grayscale, Gaussian blur, solarize (the order of mmpretrain's
    ``_view`` pipelines in our ImageNet configs).

    Args:
        x (Tensor): ``(B, 3, H, W)`` float RGB in ``[0, 255]``.
        params (Tensor): ``(B, NUM_PARAMS)`` as drawn by
            :meth:`PhotometricRecipe.draw` (see ``PARAM_INDEX``).

    Returns:
        Tensor: ``(B, 3, H, W)`` float RGB in ``[0, 255]``.
    """
    if x.ndim != 4 or x.shape[1] != 3 or params.shape[0] != x.shape[0]:
        raise ValueError(f'apply_photometric: images {tuple(x.shape)} and '
                         f'params {tuple(params.shape)} do not match '
                         '(expected (B, 3, H, W) and (B, P))')
    params = params.to(x.device)
    col = {name: params[:, i] for name, i in PARAM_INDEX.items()}
    flip = col['flip'] > 0
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    jitter = col['jitter'] > 0
    for position in range(4):
        op_ids = col[f'order_{position}'].long()
        for op_id, (op, name) in JITTER_OPS.items():
            x = _apply_where(x, jitter & (op_ids == op_id), op, col[name])
    x = _apply_where(x, col['grayscale'] > 0, lambda y: to_grayscale(y))
    sigma = col['blur_sigma']
    x = _apply_where(x, sigma > 0, gaussian_blur, sigma)
    x = _apply_where(x, col['solarize'] > 0, lambda y: solarize(y))
    return x
