from .attention_pooling import AttentionPooling
from .aux_token_attention import (aux_attention, aux_key_mask, full_block,
                                  one_way_block)
from .cpu_sync_batchnorm import CPUSyncBatchNorm
from .slotwise_batch_norm import grouped_batch_norm, slotwise_batch_norm
from .weight_norm_linear import WeightNormLinear

__all__ = ['AttentionPooling', 'CPUSyncBatchNorm', 'WeightNormLinear',
           'aux_attention', 'aux_key_mask', 'full_block', 'grouped_batch_norm',
           'one_way_block', 'slotwise_batch_norm']
