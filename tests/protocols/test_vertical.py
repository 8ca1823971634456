import numpy as np
import pytest
from gymnasium.spaces import Box

from heron.agents import FieldAgent
from heron.core.action import ActionError
from heron.protocols.vertical import PriceSignalProtocol, SetpointProtocol


class Dev(FieldAgent):
    def __init__(self, agent_id, dim, **kw):
        super().__init__(agent_id, **kw)
        self.dim = dim

    def get_action_space(self):
        return Box(-1, 1, shape=(self.dim,), dtype=np.float32)

    def respond_to_price(self, price):
        return np.full(self.dim, 1.0 if price < 50 else -1.0)


def test_setpoint_splits_by_dims():
    devs = {"a": Dev("a", 2), "b": Dev("b", 1)}
    out = SetpointProtocol().coordinate(np.array([1, 2, 3.0]), devs)
    assert out["a"].tolist() == [1, 2] and out["b"].tolist() == [3]


def test_setpoint_length_mismatch_names_devices():
    devs = {"a": Dev("a", 2), "b": Dev("b", 1)}
    with pytest.raises(ActionError, match=r"4 values.*need 3.*a: 2, b: 1"):
        SetpointProtocol().coordinate(np.zeros(4), devs)


def test_setpoint_dict_actions_unknown_device():
    with pytest.raises(ActionError, match="unknown subordinate"):
        SetpointProtocol().coordinate({"zz": [0]}, {"a": Dev("a", 1)})


def test_price_signal_devices_respond():
    devs = {"a": Dev("a", 1), "b": Dev("b", 2)}
    p = PriceSignalProtocol(0, 100, normalized=True)
    out = p.coordinate([-1.0], devs)  # price 0 -> consume
    assert p.last_price == 0.0 and out["b"].tolist() == [1.0, 1.0]
    out = p.coordinate([1.0], devs)  # price 100 -> produce
    assert out["a"].tolist() == [-1.0]
    with pytest.raises(ActionError, match="not finite"):
        p.coordinate([np.nan], devs)


def test_price_signal_requires_respond_to_price():
    with pytest.raises(TypeError, match="respond_to_price"):
        PriceSignalProtocol().coordinate([10.0], {"x": object()})
