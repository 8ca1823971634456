"""Execution modes (heron.envs.execution): the same step, three routes, one trajectory.

Run on the heating demo (examples/heating), a domain that knows nothing of messaging:
its agents are built without a broker and the modes connect them.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from heron.agents.proxy_agent import ProxyAgent
from heron.distributed import DistributedHost
from heron.envs.execution import (
    DirectExecution,
    ProxyExecution,
    RemoteExecution,
    registered_agents,
)
from heron.messaging import InMemoryBroker

DEMO_ROOT = Path(__file__).resolve().parents[2] / "examples" / "heating"
if str(DEMO_ROOT) not in sys.path:  # the demo is a script folder, not an installed package
    sys.path.insert(0, str(DEMO_ROOT))
HeatingEnv = importlib.import_module("heating.env").HeatingEnv

STEPS = 6


def episode(env, seed: int = 3):
    """Observations, rewards and infos of a seeded episode with fixed random actions."""
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    while env.agents:
        actions = {a: rng.uniform(-1.2, 1.2, env.action_space(a).shape) for a in env.agents}
        out.append(env.step(actions))
    env.close()
    return out


def assert_same(got, want) -> None:
    """Bit for bit: observations compared as arrays, everything else with ==."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g_obs, w_obs = (g, w) if isinstance(g, dict) else (g[0], w[0])
        for a in w_obs:
            np.testing.assert_array_equal(g_obs[a], w_obs[a])
        if not isinstance(g, dict):
            assert g[1:] == w[1:]


def test_direct_is_the_default_and_passes_no_messages():
    env = HeatingEnv({"max_episode_steps": 2})
    assert isinstance(env.execution, DirectExecution)
    assert env.centralized and env.message_broker is None and env.proxy is None


def test_proxy_mode_from_the_config_matches_direct_bit_for_bit():
    direct = episode(HeatingEnv({"max_episode_steps": STEPS}))
    env = HeatingEnv({"max_episode_steps": STEPS, "centralized": False})
    assert isinstance(env.execution, ProxyExecution) and not env.centralized
    assert isinstance(env.message_broker, InMemoryBroker)
    # the domain built its houses without a broker; the mode connected them
    assert all(a.message_broker is env.message_broker for a in env.agent_dict.values())
    assert set(env.proxy.known_agents) == {a.agent_id for a in registered_agents(env)}
    assert_same(episode(env), direct)


def test_remote_mode_observes_the_proxys_answer_and_applies_actions_as_given():
    # the env side of a deployment without agents: the caller plays the host
    direct = episode(HeatingEnv({"max_episode_steps": STEPS}))
    proxy = ProxyAgent(InMemoryBroker())
    env = HeatingEnv({"max_episode_steps": STEPS}, execution=RemoteExecution(proxy))
    assert env.proxy is proxy and "house_a_room0" in proxy.known_agents
    assert_same(episode(env), direct)


def test_strict_centralized_flag():
    with pytest.raises(ValueError, match="centralized must be true or false"):
        HeatingEnv({"centralized": "false"})


def test_one_mode_serves_one_env():
    mode = ProxyExecution(InMemoryBroker())
    HeatingEnv({}, execution=mode)
    with pytest.raises(RuntimeError, match="one execution mode per env"):
        HeatingEnv({}, execution=mode)


def test_an_agent_on_another_broker_is_named():
    class OwnBroker(HeatingEnv):
        def _build_agents(self) -> None:
            super()._build_agents()
            self.agent_dict["house_b"].message_broker = InMemoryBroker()

    with pytest.raises(ValueError, match="'house_b' talks through .* never hear it"):
        OwnBroker({"centralized": False})


def test_host_refuses_a_factory_that_drops_the_mode():
    with pytest.raises(TypeError, match=r"execution=mode"):
        DistributedHost(lambda mode: HeatingEnv({}), broker=InMemoryBroker())


def test_host_needs_a_transport():
    with pytest.raises(ValueError, match="broker=InMemoryBroker.*redis_url"):
        DistributedHost(lambda mode: HeatingEnv({}, execution=mode))
