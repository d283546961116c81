"""Layer-wise learning-rate decay for ViT backbones inside any model
(classifier, detector, segmentor), as used to fine-tune BEiT / MAE / iBOT
models on dense tasks (Bao et al., 2022; He et al., 2022; Zhou et al.,
2022). mmpretrain's constructor needs ``get_layer_depth`` on the whole
model and mmdet's / mmseg's pick the rule by backbone type name; this one
asks the backbone (``MTEVisionTransformer`` / ``mmpretrain``'s ViT)."""
from typing import List

from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from ...registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``lr = base_lr * layer_decay_rate ** (num_depths - 1 - depth)``.

    ``depth`` comes from ``model.backbone.get_layer_depth(name, 'backbone.')``:
    0 for the patch embedding / tokens / position embedding, ``i + 1`` for
    block ``i``, and the last depth for everything outside the backbone
    (necks and heads get the base lr). Parameters with ``ndim == 1``, biases
    and the names in ``no_decay_names`` get no weight decay.

    ``paramwise_cfg``: ``layer_decay_rate`` (float, required) and optionally
    ``no_decay_names`` (list of substrings, default: tokens and position
    embedding).
    """

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', **kwargs) -> None:
        rate = self.paramwise_cfg.get('layer_decay_rate')
        if rate is None:
            raise KeyError('ViTLayerDecayOptimWrapperConstructor needs '
                           'paramwise_cfg.layer_decay_rate')
        backbone = getattr(module, 'backbone', None)
        if backbone is None or not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'{type(module).__name__} has no backbone with '
                            'get_layer_depth (use an mmpretrain ViT / '
                            'MTEVisionTransformer backbone)')
        no_decay = self.paramwise_cfg.get(
            'no_decay_names', ['cls_token', 'pos_embed', 'aux_tokens'])
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            depth, num_depths = backbone.get_layer_depth(name, 'backbone.')
            decay = not (param.ndim == 1 or name.endswith('.bias')
                         or any(n in name for n in no_decay))
            key = (depth, decay)
            if key not in groups:
                groups[key] = dict(
                    params=[], param_names=[],
                    lr=self.base_lr * rate**(num_depths - 1 - depth),
                    weight_decay=self.base_wd if decay else 0.0)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        params.extend(groups[k] for k in sorted(groups))
        MMLogger.get_current_instance().info(
            'layer-wise lr decay %.3g: %d parameter groups', rate, len(groups))
