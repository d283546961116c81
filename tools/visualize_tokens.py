"""Token maps of an MTE checkpoint on one image: last-layer attention of the
global token and of each auxiliary token over the patches, and the pooling
weights of each pooled token, overlaid on the image, one panel per token in
a single-row PNG grid (written atomically).

    python tools/visualize_tokens.py CONFIG CHECKPOINT IMAGE --out maps.png \\
        [--source teacher|student] [--panel 224]
"""
import argparse
import os.path as osp

import mte_mm  # noqa: F401  (compat shims + registries)
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS
from PIL import Image, ImageDraw

from mte_mm.models.utils.slot_layout import SlotLayout
from mte_mm.utils.atomic import atomic_path

LABEL_HEIGHT = 16


def heat_overlay(image: Image.Image, weights: np.ndarray, hw, panel: int,
                 alpha: float = 0.6) -> Image.Image:
    """Blend a (h*w,) weight map, min-max scaled, as a red-yellow heat map."""
    w = weights.reshape(hw)
    w = (w - w.min()) / max(float(w.max() - w.min()), 1e-12)
    heat = Image.fromarray((w * 255).astype(np.uint8)).resize(
        (panel, panel), Image.BILINEAR)
    h = np.asarray(heat, dtype=np.float32) / 255.0
    colour = np.stack([np.ones_like(h), h, np.zeros_like(h)], -1) * 255
    base = np.asarray(image.resize((panel, panel)), dtype=np.float32)
    mixed = (1 - alpha * h[..., None]) * base + alpha * h[..., None] * colour
    return Image.fromarray(mixed.clip(0, 255).astype(np.uint8))


def token_maps(cfg: Config, checkpoint: str, image_path: str,
               source: str = 'teacher'):
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'no checkpoint at {checkpoint}')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    model.eval()
    size = cfg.model.backbone.get('img_size', 224)
    try:
        image = Image.open(image_path).convert('RGB')
    except (OSError, ValueError) as exc:
        raise ValueError(f'cannot read image {image_path}: {exc}') from exc
    resized = image.resize((size, size), Image.BICUBIC)
    pre = cfg.get('data_preprocessor', {})
    mean = torch.tensor(pre.get('mean', [0.0] * 3)).view(3, 1, 1)
    std = torch.tensor(pre.get('std', [1.0] * 3)).view(3, 1, 1)
    x = (torch.from_numpy(np.asarray(resized, np.float32)).permute(2, 0, 1)
         - mean) / std
    maps = model.token_maps(x[None], source)
    layout = SlotLayout.of(maps['aux'], maps['pooled'])
    panels = list(zip(layout.names, layout.stack(
        maps['global_map'][:, None], maps['aux'], maps['pooled'])[0]))
    return image, panels, maps['patch_resolution']


def render(image, panels, hw, panel: int) -> Image.Image:
    grid = Image.new('RGB', (panel * len(panels), panel + LABEL_HEIGHT),
                     'white')
    draw = ImageDraw.Draw(grid)
    for i, (name, weights) in enumerate(panels):
        grid.paste(heat_overlay(image, weights.numpy(), hw, panel),
                   (i * panel, LABEL_HEIGHT))
        draw.text((i * panel + 4, 2), name, fill='black')
    return grid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--out', required=True, help='PNG file')
    parser.add_argument('--source', default='teacher',
                        choices=['teacher', 'student'])
    parser.add_argument('--panel', type=int, default=224,
                        help='panel side in pixels')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    image, panels, hw = token_maps(cfg, args.checkpoint, args.image,
                                   args.source)
    grid = render(image, panels, hw, args.panel)
    with atomic_path(args.out) as tmp:
        grid.save(tmp, format='PNG')
    print(f'{len(panels)} panels ({", ".join(n for n, _ in panels)}) -> '
          f'{args.out}')


if __name__ == '__main__':
    main()
