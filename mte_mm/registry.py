"""mte_mm's registries: the ``mte_mm`` scope, so that OpenMMLab configs of any
default scope (mmpretrain, mmdet, mmseg) can name our modules as
``type='mte_mm.<Name>'``, and plain names inside mmpretrain's scope.

Every registry here is a child of mmengine's root registry (which is how
``'mte_mm.X'`` is found from mmdet's or mmseg's scope) and has an mmpretrain
twin: ``@MODELS.register_module()`` registers a class in both, so a module
added later cannot be forgotten in one of them
(``tests/test_registry.py`` builds every registered class from each scope).
"""
from mmengine import registry as mmengine_registry
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry


class MTERegistry(Registry):
    """A ``mte_mm``-scoped registry whose registrations are mirrored into
    the mmpretrain registry of the same kind.

    Args:
        name (str): Registry name (as mmengine's).
        parent (Registry): mmengine's root registry of this kind.
        twin (Registry): mmpretrain's registry of this kind.
        locations (list[str]): Modules imported to register the classes.
    """

    def __init__(self, name: str, parent: Registry, twin: Registry,
                 locations: list):
        super().__init__(name, parent=parent, scope='mte_mm',
                         locations=locations)
        self.twin = twin

    def _register_module(self, module, module_name=None, force=False):
        super()._register_module(module, module_name, force)
        self.twin._register_module(module, module_name, force)


def _registry(kind: str, name: str, location: str) -> MTERegistry:
    return MTERegistry(name, parent=getattr(mmengine_registry, kind),
                       twin=getattr(mmpretrain_registry, kind),
                       locations=[location])


MODELS = _registry('MODELS', 'model', 'mte_mm.models')
HOOKS = _registry('HOOKS', 'hook', 'mte_mm.engine')
DATASETS = _registry('DATASETS', 'dataset', 'mte_mm.datasets')
TRANSFORMS = _registry('TRANSFORMS', 'transform', 'mte_mm.datasets')
DATA_SAMPLERS = _registry('DATA_SAMPLERS', 'data sampler', 'mte_mm.datasets')
OPTIM_WRAPPER_CONSTRUCTORS = _registry(
    'OPTIM_WRAPPER_CONSTRUCTORS', 'optimizer wrapper constructor',
    'mte_mm.engine')

OPTIM_WRAPPERS = _registry('OPTIM_WRAPPERS', 'optim_wrapper', 'mte_mm.engine')

#: every mte_mm registry, for tools and tests that must cover them all
ALL_REGISTRIES = dict(models=MODELS, hooks=HOOKS, datasets=DATASETS,
                      transforms=TRANSFORMS, data_samplers=DATA_SAMPLERS,
                      optim_wrapper_constructors=OPTIM_WRAPPER_CONSTRUCTORS,
                      optim_wrappers=OPTIM_WRAPPERS)
