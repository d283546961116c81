from .features import extract_feature_shards, gather_shards, token_features
from .knn import (knn_accuracy, knn_predict, normalise, sharded_knn_accuracy,
                  top_neighbours)
from .knn_protocol import (build_knn_datasets, eval_pipeline,
                           format_knn_table, knn_diagnostics)
from .slot_diagnostics import (SlotStatistics, ensemble_gain,
                               flatten_diagnostics, format_diagnostics,
                               js_divergence, slot_diagnostics)

__all__ = ['SlotStatistics', 'build_knn_datasets', 'ensemble_gain',
           'eval_pipeline', 'extract_feature_shards',
           'flatten_diagnostics', 'format_diagnostics', 'format_knn_table',
           'gather_shards', 'js_divergence', 'knn_accuracy',
           'knn_diagnostics', 'knn_predict', 'normalise',
           'sharded_knn_accuracy', 'slot_diagnostics', 'token_features',
           'top_neighbours']
