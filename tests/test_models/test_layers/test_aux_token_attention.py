import pytest
import torch
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer

from mte_mm.models.layers.aux_token_attention import (class_attention_block,
                                                      one_way_block)


def test_class_attention_is_the_auxiliary_path_of_one_way_attention():
    torch.manual_seed(0)
    layer = TransformerEncoderLayer(embed_dims=16, num_heads=4,
                                    feedforward_channels=32).eval()
    context, queries = torch.randn(2, 7, 16), torch.randn(2, 3, 16)
    _, expected = one_way_block(layer, context, queries)
    out = class_attention_block(layer, context, queries)
    torch.testing.assert_close(out, expected)
    # a query sees the context and itself only: changing another query
    # leaves it unchanged
    changed = queries.clone()
    changed[:, 1] += 1
    moved = class_attention_block(layer, context, changed)
    torch.testing.assert_close(moved[:, [0, 2]], out[:, [0, 2]])
    assert not torch.allclose(moved[:, 1], out[:, 1])


def test_class_attention_gradients_reach_context_and_queries():
    layer = TransformerEncoderLayer(embed_dims=8, num_heads=2,
                                    feedforward_channels=16)
    context = torch.randn(2, 5, 8, requires_grad=True)
    queries = torch.randn(2, 2, 8, requires_grad=True)
    class_attention_block(layer, context, queries).sum().backward()
    assert context.grad.abs().sum() > 0 and queries.grad.abs().sum() > 0
    layer.attn.v_shortcut = True  # mmpretrain's option for other blocks
    with pytest.raises(NotImplementedError, match='v_shortcut'):
        class_attention_block(layer, context, queries)
