from .data_fingerprint_hook import DataFingerprintHook, batch_fingerprint
from .exact_resume_hook import ExactResumeHook
from .frozen_params_hook import (FrozenParamsHook, remove_frozen_grads,
                                 zero_frozen_grads)
from .knn_hook import KNNEvalHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossGuardHook

__all__ = ['DataFingerprintHook', 'ExactResumeHook', 'FrozenParamsHook',
           'KNNEvalHook', 'NonFiniteLossError', 'NonFiniteLossGuardHook',
           'batch_fingerprint', 'remove_frozen_grads', 'zero_frozen_grads']
