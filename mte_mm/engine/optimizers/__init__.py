from .autocast_optim_wrapper import AutocastOptimWrapper
from .vit_layer_decay import ViTLayerDecayOptimWrapperConstructor

__all__ = ['AutocastOptimWrapper', 'ViTLayerDecayOptimWrapperConstructor']
