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


def dense_mask_reference(q_aux, k, v, num_main):
    """The auxiliary path as it was: one SDPA over all keys with the
    ``N x (L+N)`` additive mask."""
    import torch.nn.functional as F

    from mte_mm.models.layers import aux_key_mask
    return F.scaled_dot_product_attention(
        q_aux, k, v, attn_mask=aux_key_mask(num_main, q_aux.shape[2], q_aux))


@pytest.mark.parametrize('num_main, num_aux', [(5, 1), (17, 4), (50, 8)])
def test_mask_free_aux_attention_equals_dense_mask(num_main, num_aux):
    from mte_mm.models.layers import aux_attention
    torch.manual_seed(num_main)
    q = (3 * torch.randn(2, 3, num_aux, 8, dtype=torch.float64)
         ).requires_grad_()  # large scores: the log-sum-exp must be stable
    k = (3 * torch.randn(2, 3, num_main + num_aux, 8, dtype=torch.float64)
         ).requires_grad_()
    v = torch.randn(2, 3, num_main + num_aux, 8,
                    dtype=torch.float64).requires_grad_()
    out = aux_attention(q, k, v, num_main, mask_free=True)
    ref = dense_mask_reference(q, k, v, num_main)
    assert torch.allclose(out, ref, atol=1e-12, rtol=1e-10)
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), grad_out)
    ref_grads = torch.autograd.grad(ref, (q, k, v), grad_out)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, atol=1e-11, rtol=1e-9)
    # float32, as in training
    q32, k32, v32 = (t.detach().float() for t in (q, k, v))
    assert torch.allclose(aux_attention(q32, k32, v32, num_main,
                                        mask_free=True),
                          dense_mask_reference(q32, k32, v32, num_main),
                          atol=1e-5)


def test_mask_free_aux_attention_under_bf16_autocast():
    from mte_mm.models.layers import aux_attention
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 16) for n in (4, 21, 21))
    ref = dense_mask_reference(q, k, v, 17)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = aux_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), 17,
                            mask_free=True)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05
