from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.core.feature import FeatureBlock, is_visible


@dataclass
class Electrical(FeatureBlock):
    p_MW: float = 0.0
    q_MVAr: float = 0.0
    label: str = "gen"  # not numeric: carried, not flattened


@dataclass
class Voltages(FeatureBlock):
    visibility = "system"
    vm_pu: np.ndarray = field(default_factory=lambda: np.ones(3))
    v_min: float = 1.0


def test_flatten_order_and_names():
    b = Electrical(p_MW=1.5, q_MVAr=-0.5)
    assert b.to_array().tolist() == [1.5, -0.5]
    assert b.names() == ["p_MW", "q_MVAr"]
    v = Voltages(vm_pu=np.array([0.9, 1.0, 1.1]), v_min=0.9)
    assert v.names() == ["vm_pu[0]", "vm_pu[1]", "vm_pu[2]", "v_min"]
    assert v.size == 4


def test_from_array_roundtrip_keeps_array_shapes():
    v = Voltages(vm_pu=np.array([0.9, 1.0, 1.1, 1.2]), v_min=0.9)
    back = Voltages.from_array(v.to_array() * 2, like=v)
    np.testing.assert_allclose(back.vm_pu, [1.8, 2.0, 2.2, 2.4])
    assert back.v_min == pytest.approx(1.8)


def test_from_array_wrong_length_names_fields():
    with pytest.raises(ValueError, match=r"Electrical.*expected 2 values.*p_MW.*got 3"):
        Electrical.from_array(np.zeros(3))


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2))
def test_roundtrip_property(values):
    b = Electrical.from_array(np.array(values))
    np.testing.assert_array_equal(b.to_array(), values)


def test_visibility_is_nested():
    assert is_visible("public", "public")
    assert is_visible("system", "upper_level")
    assert not is_visible("owner", "upper_level")
    assert not is_visible("upper_level", "system")
    with pytest.raises(ValueError, match="Unknown visibility"):
        is_visible("secret", "owner")
