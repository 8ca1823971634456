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
