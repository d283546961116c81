import pytest
import torch

from mte_mm.models import SlotLayout


def test_slot_order_names_and_split():
    layout = SlotLayout(num_aux=2, num_pooled=3)
    assert layout.num_slots == 6
    assert layout.names == ['global', 'aux_0', 'aux_1', 'pooled_0',
                            'pooled_1', 'pooled_2']
    assert layout.indices(['pooled', 'aux']) == [1, 2, 3, 4, 5]
    assert layout.indices(['pooled']) == [3, 4, 5]
    assert layout.slice('aux') == slice(1, 3)
    parts = layout.split(torch.arange(6.))
    assert {k: float(v) for k, v in parts.items()} == {
        'global': 0., 'aux': 3., 'pooled': 12.}
    # kinds with no slot are left out
    assert set(SlotLayout(0, 1).split(torch.ones(2))) == {'global', 'pooled'}


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'register'"):
        SlotLayout(1, 1).indices(['register'])
    with pytest.raises(ValueError, match='expected 3 slot values'):
        SlotLayout(1, 1).split(torch.ones(4))
    with pytest.raises(ValueError, match='num_aux=-1'):
        SlotLayout(-1, 0)


def test_stack_and_parts_put_kinds_in_slot_order():
    """``stack`` is the one place that orders the kinds; ``parts`` is its
    inverse; mismatched counts are refused."""
    layout = SlotLayout(2, 3)
    g, a, p = torch.randn(4, 1, 5), torch.randn(4, 2, 5), torch.randn(4, 3, 5)
    slots = layout.stack(g, a, p)
    torch.testing.assert_close(slots, torch.cat([g, a, p], 1))
    parts = layout.parts(slots)
    assert list(parts) == ['global', 'aux', 'pooled']
    for got, want in zip(parts.values(), (g, a, p)):
        torch.testing.assert_close(got, want)
    assert SlotLayout.of(a, p).num_slots == 6
    assert list(SlotLayout(0, 3).parts(torch.cat([g, p], 1))) == [
        'global', 'pooled']
    with pytest.raises(ValueError, match='cannot stack slot counts'):
        layout.stack(g, p, a)
    with pytest.raises(ValueError, match='expected 6 slots'):
        layout.parts(slots[:, :5])
    assert layout.auxiliary == slice(1, 6)
