"""HeronParallelEnv.step validates every action before anything changes (issue 18).

Domain-agnostic: a small env of heated rooms whose radiators have a warm-up timer
(like a generator's start-up) and whose simulation draws from the env's RNG, so a
step that was rejected but had already applied something would show.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pytest
from gymnasium.spaces import Box

from heron.agents import CoordinatorAgent, FieldAgent
from heron.core.action import ActionError, ActionKeyError
from heron.core.feature import FeatureBlock
from heron.envs import HeronParallelEnv
from heron.testing.action_fuzz import Counts, judge, make_step_input, snapshot, snapshots_equal


@dataclass
class Heat(FeatureBlock):
    temp_c: float = 18.0
    power: float = 0.0


class Radiator(FieldAgent):
    """``n`` inputs; the first sets the power, every applied action ticks a timer."""

    def __init__(self, agent_id, n=1, **kw):
        super().__init__(agent_id, **kw)
        self.n = n
        self.state.add_feature("heat", Heat())
        self.warmup_left = 3.0

    def get_action_space(self):
        return Box(-1, 1, shape=(self.n,), dtype=np.float32)

    def apply_action(self, action):
        self.warmup_left -= 1.0
        self.state.heat.power = float((action[0] + 1) / 2)


class Houses(HeronParallelEnv):
    """house1: two radiators (1 + 2 inputs); house2: one (1 input) -> padded to 3."""

    def __init__(self, cfg=None):
        super().__init__({"pad_spaces": True, **(cfg or {})})
        self._build_agents()
        self._init_spaces()

    def _build_agents(self):
        self.agent_dict["house1"] = CoordinatorAgent("house1", subordinate_agents={
            "r1": Radiator("r1"), "r2": Radiator("r2", n=2)})
        self.agent_dict["house2"] = CoordinatorAgent("house2", subordinate_agents={
            "r3": Radiator("r3")})
        self.possible_agents = list(self.agent_dict)

    def _simulate(self):
        for a in self.agents:
            for r in self.agent_dict[a].subordinate_agents.values():
                r.state.heat.temp_c += r.state.heat.power + self.np_random.normal(0, 0.1)
        return {}

    def _reward_and_safety(self):
        return ({a: -1.0 for a in self.agents}, {a: 0.0 for a in self.agents})


def fresh() -> Houses:
    env = Houses({"max_episode_steps": 50})
    env.reset(seed=1)
    return env


def test_a_bad_share_for_the_last_device_moves_no_device():
    c = CoordinatorAgent("house", subordinate_agents={"r1": Radiator("r1"),
                                                      "r2": Radiator("r2", n=2)})
    with pytest.raises(ActionError) as err:
        c.coordinate(np.array([0.5, np.nan, 0.0]))
    assert (err.value.agent, err.value.device) == ("house", "r2")
    assert "Invalid action for agent 'house', device 'r2'" in str(err.value)
    assert c.subordinate_agents["r1"].warmup_left == 3.0, "r1 was applied before r2 failed"
    with pytest.raises(ActionError, match=r"no action for subordinate\(s\) \['r2'\]"):
        c.coordinate({"r1": [0.5]})
    assert c.subordinate_agents["r1"].warmup_left == 3.0
    c.coordinate({"r1": [0.5], "r2": [0.0, 0.0]})
    assert c.subordinate_agents["r1"].warmup_left == 2.0


def test_rejected_step_changes_nothing_and_can_be_retried():
    env, ref = fresh(), fresh()
    good = {"house1": np.array([0.2, 0.4, 0.0]), "house2": np.array([0.1])}
    before = snapshot(env)
    for bad in ({**good, "house2": np.array([0.1, 0.0, np.nan])},  # NaN in padding
                {**good, "house1": {"r1": [0.2]}}, {"house1": good["house1"]},
                {**good, "house3": [0.0]}, [good["house1"], good["house2"]], None):
        with pytest.raises((ActionError, KeyError)):
            env.step(bad)
        assert snapshots_equal(before, snapshot(env))
    o1, r1, *_ = env.step(good)
    o2, r2, *_ = ref.step(good)
    assert r1 == r2 and all(np.array_equal(o1[a], o2[a]) for a in o1), \
        "the RNG and timers were untouched by the rejected steps"


def test_dict_padded_native_and_batch_forms_are_the_same_action():
    forms = [{"house1": np.array([0.2, 0.4, 0.0]), "house2": np.array([0.1, 9.0, -9.0])},
             {"house1": [[0.2, 0.4, 0.0]], "house2": 0.1},
             {"house1": {"r1": [0.2], "r2": [0.4, 0.0]}, "house2": {"r3": 0.1}}]
    outs = [fresh().validate_actions(f) for f in forms]
    for out in outs[1:]:
        for a in out:
            np.testing.assert_array_equal(out[a], outs[0][a])


def test_action_error_attributes_and_key_error_compatibility():
    env = fresh()
    with pytest.raises(ActionError) as err:
        env.step({"house1": "abc", "house2": [0.0]})
    e = err.value
    assert (e.agent, e.device, e.received) == ("house1", None, "'abc'")
    assert e.expected.startswith("3 real numbers (r1: 1, r2: 2), shape (3,) in [-1, 1]")
    with pytest.raises(KeyError) as kerr:
        env.step({"house1": [0.0, 0.0, 0.0]})
    assert isinstance(kerr.value, ActionKeyError) and kerr.value.agent == "house2"
    assert str(kerr.value).startswith("Invalid action for agent 'house2'"), "not quoted"
    copy = pickle.loads(pickle.dumps(e))  # e.g. raised inside a Ray worker
    assert (copy.agent, copy.expected, str(copy)) == (e.agent, e.expected, str(e))


def test_short_fuzz_of_the_generic_env():
    env, rng, counts = fresh(), np.random.default_rng(0), Counts()
    for _ in range(400):
        if not env.agents:
            env.reset()
        actions, kind, culprit = make_step_input(env, rng)
        judge(env, actions, culprit, counts, kind)
    assert counts.valid_steps > 50 and counts.clear_errors > 50
    assert (counts.bare_errors, counts.silent_acceptances, counts.non_finite_outputs,
            counts.state_changed_on_error) == (0, 0, 0, 0), counts.examples


def test_event_driven_wrapper_rejects_a_delayed_bad_action_when_it_is_sent():
    from heron.scheduling import AgentTiming, EventDrivenEnv

    env = EventDrivenEnv(Houses({"max_episode_steps": 20}),
                         {"house1": AgentTiming(action_delay=2)}, seed=0)
    env.reset(seed=0)
    good = {"house1": np.array([0.2, 0.4, 0.0]), "house2": np.array([0.1])}
    env.step(good)
    with pytest.raises(ActionError) as err:  # not two steps later, when it would apply
        env.step({**good, "house1": np.array([np.nan, 0.0, 0.0])})
    assert (err.value.agent, err.value.device) == ("house1", "r1")
    for _ in range(4):  # nothing bad was queued: later steps run
        env.step(good)
