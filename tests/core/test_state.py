from dataclasses import dataclass

import numpy as np
import pytest

from heron.core.feature import FeatureBlock
from heron.core.state import State


@dataclass
class Electrical(FeatureBlock):
    p_MW: float = 0.0
    q_MVAr: float = 0.0


@dataclass
class Private(FeatureBlock):
    visibility = "owner"
    cost_coef: float = 3.0


def make_state():
    s = State(owner_id="gen1", owner_level=1)
    s.add_feature("electrical", Electrical())
    s.add_feature("private", Private())
    return s


def test_attribute_access_and_stable_order():
    s = make_state()
    s.electrical.p_MW = 2.0
    assert s.to_array().tolist() == [2.0, 0.0, 3.0]
    assert s.names() == ["electrical.p_MW", "electrical.q_MVAr", "private.cost_coef"]


def test_visibility_filtering():
    s = make_state()
    assert s.to_array("upper_level").tolist() == [0.0, 0.0]
    assert list(s.to_dict("public")) == ["electrical"]


def test_reset_restores_initial_values():
    s = make_state()
    s.electrical.p_MW = 5.0
    s.reset()
    assert s.electrical.p_MW == 0.0


def test_unknown_feature_lists_known():
    s = make_state()
    with pytest.raises(AttributeError, match=r"no feature 'storage'.*electrical"):
        _ = s.storage
    with pytest.raises(KeyError, match="Unknown feature"):
        s["storage"]


def test_duplicate_and_bad_features_rejected():
    s = make_state()
    with pytest.raises(ValueError, match="already exists"):
        s.add_feature("electrical", Electrical())
    with pytest.raises(TypeError, match="FeatureBlock"):
        s.add_feature("x", np.zeros(2))


def test_update_from_dict():
    s = make_state()
    s.update_from_dict({"electrical": np.array([1.0, 2.0])})
    assert s.electrical.q_MVAr == 2.0


@dataclass
class Mixed(FeatureBlock):
    vm_pu: np.ndarray = None  # type: ignore[assignment]
    v_min: float = 1.0
    label: str = "not numeric"
    flags: np.ndarray = None  # type: ignore[assignment]
    n: np.int64 = np.int64(4)

    def __post_init__(self) -> None:
        self.vm_pu = np.array([[0.9, 1.1]]) if self.vm_pu is None else self.vm_pu
        self.flags = np.array([True, False]) if self.flags is None else self.flags


@dataclass
class Custom(FeatureBlock):
    x: float = 2.0

    def to_array(self) -> np.ndarray:
        return np.array([self.x, -self.x])


def test_flattening_mixes_scalars_arrays_and_overrides_in_order():
    """Arrays are raveled, numpy scalars count, strings and bool arrays do not, and a
    block's own to_array wins; one vector for the whole state."""
    s = State()
    s.add_feature("mixed", Mixed())
    s.add_feature("custom", Custom())
    s.add_feature("electrical", Electrical(p_MW=1.5))
    assert s.to_array().tolist() == [0.9, 1.1, 1.0, 4.0, 2.0, -2.0, 1.5, 0.0]
    assert s.mixed.to_array().tolist() == [0.9, 1.1, 1.0, 4.0]
    assert s.to_array().dtype == np.float64
    assert State().to_array().shape == (0,)


def test_replaced_removed_and_reset_blocks_are_what_attributes_and_arrays_show():
    """Blocks are bound as attributes and the visible set is remembered: both must
    follow every change of the set of blocks."""
    s = make_state()
    assert s.to_array("upper_level").tolist() == [0.0, 0.0]
    s.electrical = Electrical(p_MW=7.0)
    assert s.electrical.p_MW == 7.0 and s["electrical"] is s.electrical
    assert s.to_array("upper_level").tolist() == [7.0, 0.0]
    s.reset()
    assert s.electrical.p_MW == 0.0 and s["electrical"] is s.electrical
    s.remove_feature("electrical")
    with pytest.raises(AttributeError, match="no feature 'electrical'"):
        _ = s.electrical
    assert s.to_array("upper_level").tolist() == []
    assert s.to_array().tolist() == [3.0]


def test_a_feature_named_like_a_method_or_field_shadows_nothing():
    s = State(owner_id="gen1")
    s.add_feature("items", Electrical(p_MW=1.0))
    s.add_feature("owner_id", Electrical(p_MW=2.0))
    assert callable(s.items) and s.owner_id == "gen1"
    assert s["items"].p_MW == 1.0 and s["owner_id"].p_MW == 2.0
    assert s.to_array().tolist() == [1.0, 0.0, 2.0, 0.0]
