"""The heating demo: a second domain built on heron alone (examples/heating)."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from heron.envs import StrictPettingZoo

DEMO_ROOT = Path(__file__).resolve().parents[2] / "examples" / "heating"
if str(DEMO_ROOT) not in sys.path:  # the demo is a script folder, not an installed package
    sys.path.insert(0, str(DEMO_ROOT))
agents = importlib.import_module("heating.agents")
env_mod = importlib.import_module("heating.env")
HeatingEnv = env_mod.HeatingEnv


def quiet(**cfg):
    """Constant weather and no noise, so physics can be checked in closed form."""
    return HeatingEnv({"noise": 0.0, "t_out_amplitude": 0.0, "t_out_mean": 5.0, **cfg})


def test_heating_raises_temperature_and_off_cools_towards_outside():
    on, off = agents.Radiator("on"), agents.Radiator("off")
    for rad, a in ((on, 1.0), (off, -1.0)):
        rad.state.room.temp_c = 18.0
        rad.set_action(np.array([a]))
        rad.advance(t_out_c=5.0, dt_h=1.0)
    assert on.state.room.temp_c > 18.0 > off.state.room.temp_c > 5.0


@pytest.mark.parametrize("power_action", [-1.0, 0.0, 1.0])
def test_steady_state_is_outdoor_plus_power_times_resistance(power_action):
    rad = agents.Radiator("r", r=6.0, c=0.5, max_kw=3.0)
    rad.set_action(np.array([power_action]))
    for _ in range(200):
        rad.advance(t_out_c=2.0, dt_h=0.5)
    assert rad.state.room.temp_c == pytest.approx(2.0 + rad.state.room.power_kw * 6.0, abs=1e-6)


def test_exact_step_matches_the_ode():
    """One exact step equals a fine Euler integration of T' = (T_out - T)/RC + P/C."""
    rad = agents.Radiator("r", r=4.0, c=1.5, max_kw=2.0)
    rad.state.room.temp_c = 15.0
    rad.set_action(np.array([0.5]))
    temp, p = 15.0, rad.state.room.power_kw
    for _ in range(20000):
        temp += 1e-4 * ((5.0 - temp) / (4.0 * 1.5) + p / 1.5)
    rad.advance(5.0, 2.0)
    assert rad.state.room.temp_c == pytest.approx(temp, abs=1e-3)


def test_env_reaches_steady_state_and_prices_follow_tariff():
    env = quiet(max_episode_steps=200)
    env.reset(seed=0)
    full = {a: np.ones(env.action_space(a).shape, np.float32) for a in env.possible_agents}
    while env.agents:
        _, _, _, _, infos = env.step(full)
    for house in env.agent_dict.values():
        for rad in house.radiators:
            assert rad.state.room.temp_c == pytest.approx(5.0 + rad.max_kw * rad.r, abs=1e-3)
    assert [env_mod.tou_price(h) for h in (3, 8, 18, 22)] == [0.10, 0.25, 0.40, 0.10]
    kwh = sum(r.max_kw for r in env.agent_dict["house_a"].radiators)
    assert infos["house_a"]["energy_kwh"] == pytest.approx(kwh)


def test_comfort_band_violation_is_penalised():
    env = quiet(max_episode_steps=1)
    env.reset(seed=0)
    for rad in env.agent_dict["house_a"].radiators:
        rad.state.room.temp_c = 10.0
    off = {a: -np.ones(env.action_space(a).shape, np.float32) for a in env.possible_agents}
    _, rewards, _, _, infos = env.step(off)
    assert infos["house_a"]["safety"] > 10.0
    assert rewards["house_a"] < -infos["house_a"]["safety"]  # penalty 1 + discomfort


def test_private_preference_hidden_from_house_but_seen_by_radiator():
    env = HeatingEnv()
    house = env.agent_dict["house_a"]
    rad = house.radiators[0]
    assert "comfort" in rad.state.to_dict("owner")
    assert "comfort" not in rad.state.to_dict("upper_level")
    # house obs: per room (temp, power) + own signals (t_out, price, hour_sin, hour_cos)
    assert env.observation_space("house_a").shape == (2 * len(house.radiators) + 4,)


def test_pettingzoo_parallel_api():
    parallel_api_test(StrictPettingZoo(HeatingEnv({"max_episode_steps": 6})), num_cycles=20)


def test_seeded_episodes_are_reproducible():
    def run(seed):
        env = HeatingEnv({"max_episode_steps": 6})
        env.reset(seed=seed)
        out = []
        while env.agents:
            out.append(env.step({a: env.action_space(a).sample() for a in env.agents})[1])
        return out

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_thermostat_beats_random():
    from heron.core.policies import RandomPolicy

    def episode(make_policy):
        env = HeatingEnv({"max_episode_steps": 24})
        obs, _ = env.reset(seed=0)
        pols = {a: make_policy(env, a) for a in env.possible_agents}
        total = 0.0
        while env.agents:
            obs, rew, *_ = env.step({a: pols[a](obs[a]) for a in env.agents})
            total += sum(rew.values())
        return total

    thermo = episode(lambda e, a: agents.ThermostatPolicy(len(e.agent_dict[a].radiators)))
    rand = episode(lambda e, a: RandomPolicy(e.action_space(a), seed=0))
    assert thermo > rand


def test_demo_imports_nothing_from_powergrid():
    for path in DEMO_ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "powergrid" for n in names), path
    code = ("import sys, runpy; sys.argv = ['run_heating.py', '--steps', '3', '--obs-delay', '1']; "
            "runpy.run_path('run_heating.py', run_name='__main__'); "
            "bad = [m for m in ('powergrid', 'pandapower') if m in sys.modules]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=DEMO_ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(DEMO_ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "return:" in proc.stdout
