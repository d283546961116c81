from .data_fingerprint_hook import DataFingerprintHook, batch_fingerprint
from .exact_resume_hook import ExactResumeHook
from .knn_hook import KNNEvalHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossGuardHook

__all__ = ['DataFingerprintHook', 'ExactResumeHook', 'KNNEvalHook',
           'NonFiniteLossError', 'NonFiniteLossGuardHook', 'batch_fingerprint']
