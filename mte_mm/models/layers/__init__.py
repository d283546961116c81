from .attention_pooling import AttentionPooling
from .aux_token_attention import aux_key_mask, full_block, one_way_block
from .cpu_sync_batchnorm import CPUSyncBatchNorm
from .weight_norm_linear import WeightNormLinear

__all__ = ['AttentionPooling', 'CPUSyncBatchNorm', 'WeightNormLinear',
           'aux_key_mask', 'full_block', 'one_way_block']
