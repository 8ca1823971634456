"""Event-driven execution: scheduler ordering, timing wrapper, delayed broker."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
from gymnasium.spaces import Box
from pettingzoo.test import parallel_api_test

from heron.agents import CoordinatorAgent, FieldAgent
from heron.core.feature import FeatureBlock
from heron.envs import HeronParallelEnv, StrictPettingZoo
from heron.messaging import InMemoryBroker, Message, UnknownTopicError
from heron.scheduling import (
    AgentTiming,
    DelayedBroker,
    EventDrivenEnv,
    EventScheduler,
    SimClock,
)

# -- toy env (copied from tests/envs/test_base_env.py) -------------------------------


@dataclass
class Temp(FeatureBlock):
    temp_c: float = 18.0
    power: float = 0.0


class Radiator(FieldAgent):
    def __init__(self, agent_id, **kw):
        super().__init__(agent_id, **kw)
        self.state.add_feature("temp", Temp())

    def get_action_space(self):
        return Box(-1, 1, shape=(1,), dtype=np.float32)

    def apply_action(self, action):
        self.state.temp.power = float((action[0] + 1) / 2)


class Rooms(HeronParallelEnv):
    def __init__(self, cfg=None):
        super().__init__(cfg)
        self._build_agents()
        self._init_spaces()
        self.received: list[dict] = []  # actions the env actually got, per step

    def _build_agents(self):
        for name in ("house1", "house2"):
            self.agent_dict[name] = CoordinatorAgent(
                name, subordinate_agents={f"{name}_r": Radiator(f"{name}_r")})
        self.possible_agents = list(self.agent_dict)

    def step(self, actions):
        self.received.append(copy.deepcopy(actions))
        return super().step(actions)

    def _simulate(self):
        out = {}
        for a in self.agents:
            r = next(iter(self.agent_dict[a].subordinate_agents.values()))
            r.state.temp.temp_c += 2.0 * r.state.temp.power - 0.5 + self.np_random.normal(0, 0.1)
            out[a] = {"temp": r.state.temp.temp_c}
        return out

    def _reward_and_safety(self):
        rew, saf = {}, {}
        for a in self.agents:
            r = next(iter(self.agent_dict[a].subordinate_agents.values()))
            rew[a] = -r.state.temp.power
            saf[a] = max(0.0, 20.0 - r.state.temp.temp_c)
        return rew, saf


AGENTS = ("house1", "house2")


def action_plan(steps: int, seed: int = 7) -> list[dict[str, np.ndarray]]:
    """Open-loop, distinct actions per step so holds and delays are visible."""
    rng = np.random.default_rng(seed)
    return [{a: rng.uniform(-1, 1, size=1).astype(np.float32) for a in AGENTS}
            for _ in range(steps)]


def rollout(env, plan, seed=3):
    obs, _ = env.reset(seed=seed)
    traj = [(obs, None)]
    for actions in plan:
        obs, rew, term, trunc, info = env.step(actions)
        traj.append((obs, (rew, term, trunc, info)))
    return traj


# -- scheduler -----------------------------------------------------------------------


def test_scheduler_orders_by_time_priority_then_insertion():
    s = EventScheduler()
    ran: list[str] = []
    for name, t, prio in [("c", 2, 0), ("a", 1, 5), ("b", 1, 5), ("z", 1, 0), ("d", 2, 0)]:
        s.schedule(t, lambda e: ran.append(e.name), priority=prio, name=name)
    assert s.run_until(0.5) == 0 and ran == []
    s.run_until(2)
    assert ran == ["z", "a", "b", "c", "d"]
    assert s.now == 2 and len(s) == 0


def test_scheduler_same_time_callbacks_and_cancel_and_past():
    s = EventScheduler()
    ran: list[str] = []
    s.schedule(1, lambda e: (ran.append("first"), s.schedule(1, lambda e: ran.append("child"))))
    dropped = s.schedule(1, lambda e: ran.append("cancelled"))
    s.schedule(1, lambda e: ran.append("second"))
    s.cancel(dropped)
    s.run_until(1)
    assert ran == ["first", "second", "child"]
    with pytest.raises(ValueError, match="past"):
        s.schedule(0.5, None)
    with pytest.raises(ValueError, match="backwards"):
        s.run_until(0)


def test_scheduler_reset_forgets_events_and_cancel_after_reset_is_safe():
    s = EventScheduler()
    ev = s.schedule(3, None)
    s.reset()
    s.cancel(ev)
    assert len(s) == 0 and s.now == 0 and s.peek_time() is None


def test_same_seed_same_event_log_with_jitter():
    timings = {"house1": AgentTiming(2, 1, 1, 0, jitter=2), "house2": AgentTiming(3, 0, 2)}

    def log(seed):
        env = EventDrivenEnv(Rooms({"max_episode_steps": 12}), timings, seed=seed)
        env.scheduler.keep_log = True
        traj = rollout(env, action_plan(12))
        return env.scheduler.log, [t[0]["house1"].tolist() for t in traj], env.unwrapped.received

    a, b = log(1), log(1)
    assert a[0] == b[0] and a[1] == b[1]
    assert all(np.array_equal(x[k], y[k]) for x, y in zip(a[2], b[2], strict=True) for k in x)


# -- timing wrapper ------------------------------------------------------------------


def test_zero_delay_reproduces_wrapped_env_exactly():
    plan = action_plan(10)
    base_env = Rooms({"max_episode_steps": 10})
    base = rollout(base_env, plan)
    wrapped_env = EventDrivenEnv(Rooms({"max_episode_steps": 10}),
                                 {a: AgentTiming() for a in AGENTS}, seed=0)
    wrapped = rollout(wrapped_env, plan)
    assert len(base) == len(wrapped) == 11
    for (obs_b, rest_b), (obs_w, rest_w) in zip(base, wrapped, strict=True):
        assert obs_b.keys() == obs_w.keys()
        for a in obs_b:
            np.testing.assert_array_equal(obs_b[a], obs_w[a])
        assert rest_b == rest_w  # rewards, terminations, truncations, infos
    np.testing.assert_array_equal(wrapped_env.state(), base_env.state())
    assert wrapped_env.agents == []


def test_slow_agent_holds_last_action():
    env = EventDrivenEnv(Rooms({"max_episode_steps": 9}), {"house2": AgentTiming(tick_period=3)})
    plan = action_plan(9)
    env.reset(seed=0)
    acting = []
    for actions in plan:
        acting.append(env.ticking_agents)
        env.step(actions)
    got = [step["house2"] for step in env.unwrapped.received]
    for t in range(9):
        np.testing.assert_array_equal(got[t], plan[3 * (t // 3)]["house2"])
        np.testing.assert_array_equal(env.unwrapped.received[t]["house1"], plan[t]["house1"])
    assert [("house2" in a) for a in acting] == [True, False, False] * 3


def test_slow_agent_may_omit_action_but_ticking_agent_may_not():
    env = EventDrivenEnv(Rooms({"max_episode_steps": 4}), {"house2": AgentTiming(tick_period=2)})
    env.reset(seed=0)
    env.step({"house1": np.zeros(1), "house2": np.ones(1)})
    env.step({"house1": np.zeros(1)})  # house2 does not tick at step 1
    with pytest.raises(KeyError, match="house2"):
        env.step({"house1": np.zeros(1)})


@pytest.mark.parametrize("d", [1, 3])
def test_observation_delay_returns_observation_from_d_steps_ago(d):
    plan = action_plan(8)
    base = [t[0] for t in rollout(Rooms({"max_episode_steps": 8}), plan)]
    env = EventDrivenEnv(Rooms({"max_episode_steps": 8}), {"house1": AgentTiming(obs_delay=d)},
                         annotate_infos=True)
    delayed = rollout(env, plan)
    for t, (obs, rest) in enumerate(delayed):
        np.testing.assert_array_equal(obs["house1"], base[max(0, t - d)]["house1"])
        np.testing.assert_array_equal(obs["house2"], base[t]["house2"])  # undelayed
        if rest is not None:
            assert rest[3]["house1"]["timing"]["obs_step"] == max(0, t - d)
    # the delay hides the present, it does not change the plant
    assert not np.array_equal(delayed[5][0]["house1"], base[5]["house1"])


def test_action_delay_applies_actions_later_with_default_before():
    d = 2
    env = EventDrivenEnv(Rooms({"max_episode_steps": 6}), {"house1": AgentTiming(action_delay=d)},
                         default_actions={"house1": np.full(1, -1.0, np.float32)})
    plan = action_plan(6)
    rollout(env, plan)
    got = [step["house1"] for step in env.unwrapped.received]
    for t in range(6):
        expected = plan[t - d]["house1"] if t >= d else np.full(1, -1.0)
        np.testing.assert_array_equal(got[t], expected)


def test_period_seconds_and_phase():
    env = EventDrivenEnv(Rooms({"max_episode_steps": 8}),
                         {"house1": AgentTiming(period_s=90.0), "house2": AgentTiming(2, phase=1)},
                         step_seconds=60.0)
    env.reset(seed=0)
    acting = []
    for actions in action_plan(8):
        acting.append(env.ticking_agents)
        env.step(actions)
    # 90 s ticks at 0, 1.5, 3, 4.5, 6 s/60 -> act at the next step boundary: 0, 2, 3, 5, 6
    assert [t for t, a in enumerate(acting) if "house1" in a] == [0, 2, 3, 5, 6]
    assert [t for t, a in enumerate(acting) if "house2" in a] == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="step_seconds"):
        EventDrivenEnv(Rooms(), {"house1": AgentTiming(period_s=30.0)})
    assert SimClock(60.0).to_steps(90.0) == 1.5


def test_timing_validation_is_explicit():
    with pytest.raises(ValueError, match="tick_period"):
        AgentTiming(tick_period=0)
    with pytest.raises(TypeError, match="obs_delay"):
        AgentTiming(obs_delay=1.5)
    with pytest.raises(KeyError, match="nope"):
        EventDrivenEnv(Rooms(), {"nope": AgentTiming()})


def test_pettingzoo_api_with_realistic_timing():
    env = EventDrivenEnv(Rooms({"max_episode_steps": 6}),
                         {"house1": AgentTiming(2, 1, 1, jitter=1), "house2": AgentTiming(3)},
                         seed=0)
    parallel_api_test(StrictPettingZoo(env), num_cycles=20)
    assert env.agent_dict is env.unwrapped.agent_dict  # domain attributes pass through


def test_evaluation_code_runs_unchanged():
    from heron.core.policies import RandomPolicy
    from heron.training.evaluate import rollout as evaluate_rollout
    from heron.training.toy_env import ToyRooms

    def score(env):
        pols = {a: RandomPolicy(env.action_space(a)) for a in env.possible_agents}
        return evaluate_rollout(env, pols, seed=5)  # re-seeds the policies

    ideal = score(ToyRooms({"max_episode_steps": 12}))
    assert score(EventDrivenEnv(ToyRooms({"max_episode_steps": 12}), seed=0)) == ideal
    late = score(EventDrivenEnv(ToyRooms({"max_episode_steps": 12}),
                                {"house1": AgentTiming(2, 1, 2), "house2": AgentTiming(3, 2, 1)}))
    assert late["steps"] == ideal["steps"] == 12 and late != ideal


# -- delayed broker ------------------------------------------------------------------


def _msg(sender="a", n=0):
    return Message(sender=sender, topic="t", type="x", payload={"n": n})


def test_delayed_broker_delivers_after_delay():
    sched = EventScheduler()
    inner = InMemoryBroker()
    broker = DelayedBroker(inner, sched, delay_steps=2)
    broker.subscribe("t", "b")
    assert broker.publish(_msg(n=1)) == 0
    assert broker.consume("t", "b") == [] and len(broker.in_flight) == 1
    sched.advance()
    broker.publish(_msg(n=2))
    assert broker.consume("t", "b") == []
    sched.advance()  # t=2: first message due
    assert [m.payload["n"] for m in broker.consume("t", "b")] == [1]
    sched.advance()
    got = broker.consume("t", "b")
    assert [m.payload["n"] for m in got] == [2] and got[0].seq == 2
    with pytest.raises(UnknownTopicError):
        broker.publish(Message(sender="a", topic="typo", type="x"))


def test_delayed_broker_per_sender_delay_in_order_and_reset():
    sched = EventScheduler()
    broker = DelayedBroker(InMemoryBroker(), sched, {"slow": 3}, jitter={"slow": 2}, seed=0)
    broker.subscribe("t", "b")
    assert broker.publish(_msg("fast", 0)) == 1  # default_delay 0: delivered at once
    for n in range(5):
        broker.publish(_msg("slow", n))
        sched.advance()
    sched.run_until(20)
    assert [m.payload["n"] for m in broker.consume("t", "b")] == [0, 0, 1, 2, 3, 4]
    broker.publish(_msg("slow", 9))
    broker.reset()
    sched.run_until(40)
    assert broker.consume("t", "b") == [] and broker.in_flight == []


def test_env_delayed_broker_uses_agent_msg_delay_on_env_clock():
    env = EventDrivenEnv(Rooms({"max_episode_steps": 5}), {"house1": AgentTiming(msg_delay=2)})
    broker = env.delayed_broker(InMemoryBroker())
    broker.subscribe("t", "house2")
    env.reset(seed=0)
    broker.publish(Message(sender="house1", topic="t", type="x"))
    seen = []
    for actions in action_plan(3):
        seen.append(len(broker.consume("t", "house2")))
        env.step(actions)
    assert seen == [0, 0, 1]
