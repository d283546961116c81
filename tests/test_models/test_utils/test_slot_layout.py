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
