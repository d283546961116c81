from .features import extract_features, token_features
from .knn import knn_accuracy, knn_predict
from .knn_protocol import (build_knn_datasets, eval_pipeline,
                           format_knn_table, knn_diagnostics)

__all__ = ['build_knn_datasets', 'eval_pipeline', 'extract_features',
           'format_knn_table', 'knn_accuracy',
           'knn_diagnostics', 'knn_predict', 'token_features']
