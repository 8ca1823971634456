from dataclasses import dataclass

import numpy as np
import pytest
from gymnasium.spaces import Box

from heron.agents import (
    COORDINATOR_LEVEL,
    FIELD_LEVEL,
    SYSTEM_LEVEL,
    CoordinatorAgent,
    FieldAgent,
    ProxyAgent,
    SystemAgent,
)
from heron.agents.proxy_agent import request_state, send_action
from heron.core.action import ActionError
from heron.core.feature import FeatureBlock
from heron.core.policies import RandomPolicy
from heron.messaging.base import Message
from heron.messaging.memory import InMemoryBroker


@dataclass
class Power(FeatureBlock):
    p: float = 0.0


@dataclass
class Secret(FeatureBlock):
    visibility = "owner"
    marginal_cost: float = 7.0


class Heater(FieldAgent):
    def __init__(self, agent_id, **kw):
        super().__init__(agent_id, **kw)
        self.state.add_feature("power", Power())
        self.state.add_feature("secret", Secret())

    def get_action_space(self):
        return Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def apply_action(self, action):
        self.state.power.p = float(action.sum())

    def respond_to_price(self, price):
        return np.array([1.0, 1.0]) if price < 10 else np.array([-1.0, -1.0])


def test_levels():
    assert FieldAgent("f").level == FIELD_LEVEL
    assert CoordinatorAgent("c").level == COORDINATOR_LEVEL
    assert SystemAgent("s").level == SYSTEM_LEVEL


def test_field_agent_validates_actions():
    h = Heater("h1")
    h.set_action([0.2, 5.0])  # clipped to 1.0
    assert h.state.power.p == pytest.approx(1.2)
    with pytest.raises(ActionError, match="NaN"):
        h.set_action([np.nan, 0.0])
    with pytest.raises(ActionError, match=r"shape \(3,\), expected \(2,\)"):
        h.set_action([0.0, 0.0, 0.0])


def test_coordinator_splits_flat_action_and_observes_visible_state():
    c = CoordinatorAgent("room", subordinate_agents={"a": Heater("a"), "b": Heater("b")})
    assert c.get_flat_action_space().shape == (4,)
    c.coordinate(np.array([0.1, 0.1, -0.5, -0.5]))
    assert c.subordinate_agents["a"].state.power.p == pytest.approx(0.2)
    assert c.subordinate_agents["b"].state.power.p == pytest.approx(-1.0)
    # superiors see power but not the devices' owner-only secret
    np.testing.assert_allclose(c.observe(), [0.2, -1.0])
    assert c.subordinate_agents["a"].upstream_id == "room"


def test_agent_act_with_policy_and_reset():
    h = Heater("h", policy=RandomPolicy(Box(-1, 1, shape=(2,), dtype=np.float32), seed=0))
    action = h.act()
    assert action.shape == (2,)
    h.set_action(action)
    h.reset()
    assert h.state.power.p == 0.0


def test_unexpected_kwargs_are_reported():
    with pytest.raises(TypeError, match="unexpected argument"):
        FieldAgent("x", colour="red")


def test_proxy_serves_state_filtered_by_visibility():
    broker = InMemoryBroker()
    dev = Heater("dev", message_broker=broker)
    coord = CoordinatorAgent("mg", message_broker=broker)
    coord.add_subordinate(dev)
    other = CoordinatorAgent("mg2", message_broker=broker)
    proxy = ProxyAgent(broker)
    for a in (dev, coord, other):
        proxy.register_agent(a)
    dev.state.power.p = 3.0

    request_state(dev, ["dev"])
    request_state(coord, ["dev"])
    request_state(other, ["dev"])
    assert proxy.serve() == 3
    own = dev.receive()[0].payload["states"]["dev"]
    assert own == {"power": [3.0], "secret": [7.0]}
    sup = coord.receive()[0].payload["states"]["dev"]
    assert sup == {"power": [3.0]}
    assert proxy.relation("mg2", "dev") == "public"


def test_proxy_rejects_bad_messages_and_reports_missing_agents():
    broker = InMemoryBroker()
    dev = Heater("dev", message_broker=broker)
    proxy = ProxyAgent(broker)
    proxy.register_agent(dev)
    broker.subscribe("agent.intruder.inbox", "intruder")
    broker.publish(Message(sender="intruder", topic="agent.proxy.inbox", type="action",
                           payload={"action": [1.0]}))
    broker.publish(Message(sender="dev", topic="agent.proxy.inbox", type="action",
                           payload={"action": "rm -rf"}))
    broker.publish(Message(sender="dev", topic="agent.proxy.inbox", type="action",
                           payload={"action": [0.0] * 200_000}))
    assert proxy.serve() == 0
    reasons = [r for _, r in proxy.rejected]
    assert any("unknown sender" in r for r in reasons)
    assert any("list of numbers" in r for r in reasons)
    assert any("oversized" in r for r in reasons)
    with pytest.raises(TimeoutError, match=r"\['dev'\]"):
        proxy.collect_actions(["dev"])
    send_action(dev, [0.5, 0.5])
    assert proxy.collect_actions(["dev"])["dev"].tolist() == [0.5, 0.5]
