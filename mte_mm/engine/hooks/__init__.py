from .data_fingerprint_hook import DataFingerprintHook, batch_fingerprint
from .knn_hook import KNNEvalHook

__all__ = ['DataFingerprintHook', 'KNNEvalHook', 'batch_fingerprint']
