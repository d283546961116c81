from .attention_pooling import AttentionPooling
from .aux_token_attention import (aux_attention, aux_key_mask, full_block,
                                  one_way_block)
from .cpu_sync_batchnorm import CPUSyncBatchNorm
from .slot_batch_norm import SlotBatchNorm, convert_to_slot_batch_norm
from .weight_norm_linear import WeightNormLinear

__all__ = ['AttentionPooling', 'CPUSyncBatchNorm', 'SlotBatchNorm',
           'WeightNormLinear', 'aux_attention', 'aux_key_mask',
           'convert_to_slot_batch_norm', 'full_block', 'one_way_block']
