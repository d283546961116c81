"""mte_mm's own registry scope, so OpenMMLab configs of any scope (mmdet,
mmseg, mmpretrain) can name our modules as ``type='mte_mm.<Name>'``."""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mte_mm',
                  locations=['mte_mm.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='mte_mm',
    locations=['mte_mm.engine'])
