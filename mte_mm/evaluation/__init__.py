from .features import (extract_feature_shards, extract_features,
                       gather_shards, token_features)
from .knn import (knn_accuracy, knn_predict, normalise, sharded_knn_accuracy,
                  top_neighbours)
from .knn_protocol import (build_knn_datasets, eval_pipeline,
                           format_knn_table, knn_diagnostics)

__all__ = ['build_knn_datasets', 'eval_pipeline', 'extract_feature_shards',
           'extract_features', 'format_knn_table', 'gather_shards',
           'knn_accuracy', 'knn_diagnostics', 'knn_predict', 'normalise',
           'sharded_knn_accuracy', 'token_features', 'top_neighbours']
