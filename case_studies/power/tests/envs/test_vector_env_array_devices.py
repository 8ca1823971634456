"""User devices with array maths (powergrid.envs.array_devices) in the vector env.

Two devices written as in the guide's recipe (a ``DeviceAgent`` subclass, registered by
name, used from a config), each with an ``ArrayDevices`` class: the guide's WindTurbine
(an sgen fed by the wind series) and a water heater (a flexible demand on a storage
element, with a tank state of charge it owns and its terminal voltage observed). The
vector env must step them without the per-copy fallback and reproduce single envs.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from gymnasium.spaces import Box

from heron.core.feature import FeatureBlock
from powergrid.agents.device_agent import DeviceAgent
from powergrid.agents.registry import DEVICE_REGISTRY
from powergrid.core.features.electrical import ElectricalBasePh
from powergrid.envs import vector_env
from powergrid.envs.array_devices import ArrayDevices, ArrayDevicesError
from powergrid.envs.equivalence import assert_copies_match, close, obs_tolerance
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.envs.vector_env import PerCopyFallbackWarning, VectorMultiAgentMicrogrids
from powergrid.setups.loader import load_setup

EPISODE = 12
STEPS = 2 * EPISODE + 2   # two whole episodes and the autoresets after them


# -- the water heater's maths, once: broadcasting functions (as powergrid.physics) -----------
def heater_power(a: Any, soc: Any, p_max: Any, e_cap: Any, dt: float) -> Any:
    """Power drawn (MW, >= 0) for a normalised action, limited by the tank's headroom."""
    return np.minimum((a + 1.0) / 2.0 * p_max, np.maximum(0.0, (1.0 - soc) * e_cap / dt))


def tank_soc_after(soc: Any, p_drawn: Any, draw: Any, e_cap: Any, dt: float) -> Any:
    return np.minimum(np.maximum(soc + (p_drawn - draw) * dt / e_cap, 0.0), 1.0)


def heater_cost_safety(soc: Any, soc_min: Any, e_cap: Any, cost_per_MWh: Any) -> tuple:
    shortfall = np.maximum(0.0, soc_min - soc)   # cold water: discomfort, and unsafe
    return shortfall * e_cap * cost_per_MWh, shortfall


@dataclass
class WaterHeaterConfig:
    bus: str
    p_max_MW: float = 0.3
    e_capacity_MWh: float = 0.8
    init_soc: float = 0.5
    draw_MW: float = 0.12
    soc_min: float = 0.3
    discomfort_cost_per_MWh: float = 30.0


@dataclass
class TankBlock(FeatureBlock):
    soc: float = 0.5


class WaterHeaterArrays(ArrayDevices):
    def __init__(self, devices, num_envs, dt):
        super().__init__(devices, num_envs, dt)
        c = lambda name: self.config_array(devices, name)  # noqa: E731
        self.p_max, self.e_cap, self.init_soc = c("p_max_MW"), c("e_capacity_MWh"), c("init_soc")
        self.draw, self.soc_min = c("draw_MW"), c("soc_min")
        self.cost_per_MWh = c("discomfort_cost_per_MWh")
        shape = (num_envs, self.size)
        self.p, self.v, self.va = np.zeros(shape), np.ones(shape), np.zeros(shape)
        self.soc = np.tile(self.init_soc, (num_envs, 1))

    def reset(self, copies):
        self.p[copies], self.v[copies], self.va[copies] = 0.0, 1.0, 0.0
        self.soc[copies] = self.init_soc

    def apply_actions(self, actions, copies):
        p = -heater_power(actions[:, :, 0], self.soc, self.p_max, self.e_cap, self.dt)
        self.p[copies] = p[copies]

    def injection(self):
        return self.p, np.zeros_like(self.p)

    def update_state(self, v_pu, va_deg, copies):
        self.v[copies], self.va[copies] = v_pu[copies], va_deg[copies]
        soc = tank_soc_after(self.soc, -self.p, self.draw, self.e_cap, self.dt)
        self.soc[copies] = soc[copies]

    def cost_safety(self):
        return heater_cost_safety(self.soc, self.soc_min, self.e_cap, self.cost_per_MWh)

    def observe(self):
        return np.stack([self.p, np.zeros_like(self.p), self.v, self.va, self.soc], axis=-1)


class WaterHeater(DeviceAgent):
    """A flexible demand: an electric water heater with a tank (load convention)."""

    pp_element = "storage"
    array_devices = WaterHeaterArrays

    def __init__(self, agent_id: str, device_state_config: dict[str, Any], **kwargs):
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        self.config = WaterHeaterConfig(**device_state_config)
        self.state.add_feature("electrical", ElectricalBasePh())
        self.state.add_feature("tank", TankBlock(soc=self.config.init_soc))

    def get_action_space(self):
        return Box(low=-1.0, high=1.0, shape=(1,), dtype=np.float32)

    def set_device_action(self, action):
        c = self.config
        p = heater_power(float(action[0]), self.state.tank.soc, c.p_max_MW, c.e_capacity_MWh,
                         self.dt)
        self.state.electrical.p_MW = -float(p)

    def update_state(self, *args, **kwargs):
        c = self.config
        self.state.tank.soc = float(tank_soc_after(self.state.tank.soc,
                                                   -self.state.electrical.p_MW, c.draw_MW,
                                                   c.e_capacity_MWh, self.dt))

    def update_cost_safety(self):
        c = self.config
        cost, safety = heater_cost_safety(self.state.tank.soc, c.soc_min, c.e_capacity_MWh,
                                          c.discomfort_cost_per_MWh)
        self.cost, self.safety = float(cost), float(safety)


class GuideWindTurbineArrays(ArrayDevices):
    """The guide's WindTurbine on arrays: p = available x curtailment factor."""

    def __init__(self, devices, num_envs, dt):
        super().__init__(devices, num_envs, dt)
        shape = (num_envs, self.size)
        self.p, self.v, self.va = np.zeros(shape), np.ones(shape), np.zeros(shape)

    def reset(self, copies):
        self.p[copies], self.v[copies], self.va[copies] = 0.0, 1.0, 0.0

    def apply_actions(self, actions, copies):
        p = self.available * actions[:, :, 0]
        self.p[copies] = p[copies]

    def injection(self):
        return self.p, np.zeros_like(self.p)

    def update_state(self, v_pu, va_deg, copies):
        self.v[copies], self.va[copies] = v_pu[copies], va_deg[copies]

    def cost_safety(self):
        return (self.available - self.p) * 5.0, np.zeros_like(self.p)

    def observe(self):
        return np.stack([self.p, np.zeros_like(self.p), self.v, self.va], axis=-1)


@pytest.fixture
def fast_devices(guide_wind_turbine):
    """The guide's recipe plus ``array_devices``, and the heater, registered by name."""
    fast_wt = type("FastWindTurbine", (guide_wind_turbine,),
                   {"array_devices": GuideWindTurbineArrays})
    DEVICE_REGISTRY["FastWindTurbine"] = fast_wt
    DEVICE_REGISTRY["WaterHeater"] = WaterHeater
    try:
        yield fast_wt
    finally:
        for name in ("FastWindTurbine", "WaterHeater", "Custom"):
            DEVICE_REGISTRY.pop(name, None)


def config(custom: str | None = None) -> dict:
    """ieee34_ieee13 with two guide turbines and two water heaters (D = 2 per class)."""
    cfg = load_setup("ieee34_ieee13")
    cfg.update(max_episode_steps=EPISODE, train=True)
    mgs = cfg["microgrid_configs"]
    for mg, bus in ((1, "Bus 675"), (2, "Bus 675")):
        mgs[mg]["devices"].append({"type": "FastWindTurbine", "name": "wt",
                                   "device_state_config": {"bus": bus, "p_rated_MW": 0.5}})
    for mg, bus in ((0, "Bus 671"), (2, "Bus 652")):
        mgs[mg]["devices"].append({"type": custom or "WaterHeater", "name": "heater",
                                   "device_state_config": {"bus": bus}})
    return cfg


@pytest.mark.parametrize("n", [1, 4])
def test_array_devices_reproduce_single_envs_without_fallback(fast_devices, n, caplog):
    caplog.set_level(logging.ERROR)
    cfg = config()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerCopyFallbackWarning)
        venv = VectorMultiAgentMicrogrids(cfg, n)
        assert not venv._fallback
        assert sorted(b.cls.__name__ for b in venv._blocks) == ["FastWindTurbine",
                                                                 "WaterHeater"]
        assert all(len(b.cols) == 2 for b in venv._blocks)
        singles = [MultiAgentMicrogrids(cfg) for _ in range(n)]
        obs, _ = venv.reset(seed=11)
        single_obs = [s.reset(seed=11 + i)[0] for i, s in enumerate(singles)]
        tol = {a: obs_tolerance(singles[0], a) for a in venv.possible_agents}
        rng = np.random.default_rng(5)
        heaters = next(b for b in venv._blocks if b.cls is WaterHeater).maths
        resets, socs = 0, []
        for t in range(STEPS):
            assert_copies_match(venv, obs, singles, single_obs, tol, t)
            acts = {a: rng.uniform(-1, 1, (n, venv.single_action_space(a).shape[0]))
                    for a in venv.possible_agents}
            obs, rewards, _, truncs, infos = venv.step(acts)
            socs.append(heaters.soc.copy())
            for i, s in enumerate(singles):
                if not s.agents:  # the vector copy autoresets on this step: so does the single
                    single_obs[i], _ = s.reset()
                    assert infos[venv.possible_agents[0]]["_reset"][i]
                    resets += 1
                    continue
                single_obs[i], s_rew, _, s_trunc, s_info = s.step(
                    {a: acts[a][i] for a in s.agents})
                for a in venv.possible_agents:
                    # $ within 1e-5, as test_vector_env.py explains (ext-grid power ~2e-7 MW)
                    assert close(rewards[a][i], s_rew[a], 1e-5), (t, i, a)
                    assert truncs[a][i] == s_trunc[a]
                    assert close(infos[a]["cost"][i], s_info[a]["cost"], 1e-5), (t, i, a)
                    assert close(infos[a]["safety"][i], s_info[a]["safety"]), (t, i, a)
                    assert infos[a]["converged"][i] == s_info[a]["converged"]
        assert resets == 2 * n
    # the heaters' own state moved (the test is not comparing constants)
    assert np.ptp(np.array(socs)) > 0.05
    venv.close()


class BrokenInjection(WaterHeaterArrays):
    def injection(self):
        return self.p[:, 0], np.zeros_like(self.p)


class BrokenCost(WaterHeaterArrays):
    def cost_safety(self):
        return self.p, self.p[:, :, None]


class BrokenObservation(WaterHeaterArrays):
    def observe(self):
        return super().observe()[:, :, :4]


@pytest.mark.parametrize("maths, method", [(BrokenInjection, "injection"),
                                           (BrokenCost, "cost_safety"),
                                           (BrokenObservation, "observe")])
def test_a_wrong_shape_names_the_class_and_method(fast_devices, maths, method):
    DEVICE_REGISTRY["Custom"] = type("LeakyHeater", (WaterHeater,), {"array_devices": maths})
    venv = VectorMultiAgentMicrogrids(config("Custom"), 3)
    with pytest.raises(ArrayDevicesError, match=rf"LeakyHeater\.array_devices .*{method}\(\) "
                                                r"returned shape .*expected \(3, 2"):
        venv.reset(seed=0)


class NaNInjection(WaterHeaterArrays):
    def injection(self):
        p, q = super().injection()
        p = np.array(p, dtype=float)
        p[2, 1] = np.nan
        return p, q


def test_a_non_finite_output_names_the_device_and_copy(fast_devices):
    DEVICE_REGISTRY["Custom"] = type("NaNHeater", (WaterHeater,), {"array_devices": NaNInjection})
    venv = VectorMultiAgentMicrogrids(config("Custom"), 3)
    with pytest.raises(ArrayDevicesError, match=r"NaNHeater\.array_devices .*injection\(\) "
                                                r"returned nan for device '.+' in copy 2"):
        venv.reset(seed=0)


def test_a_subclass_that_does_not_redeclare_array_devices_runs_per_copy(fast_devices):
    class ColderHeater(WaterHeater):
        def update_cost_safety(self):
            super().update_cost_safety()
            self.cost *= 2.0

    DEVICE_REGISTRY["Custom"] = ColderHeater
    vector_env._WARNED.discard(ColderHeater)
    with pytest.warns(PerCopyFallbackWarning, match="ColderHeater: it inherits array_devices"):
        venv = VectorMultiAgentMicrogrids(config("Custom"), 2)
    assert [e.cls for e in venv._fallback] == [ColderHeater, ColderHeater]


def test_a_subclass_of_a_builtin_is_not_taken_for_the_builtin(fast_devices):
    from powergrid.agents.storage import ESS

    class MyESS(ESS):
        pass

    DEVICE_REGISTRY["Custom"] = MyESS
    cfg = config()
    cfg["microgrid_configs"][2]["devices"][0]["type"] = "Custom"   # ess3
    vector_env._WARNED.discard(MyESS)
    with pytest.warns(PerCopyFallbackWarning, match="MyESS: a subclass of a built-in"):
        venv = VectorMultiAgentMicrogrids(cfg, 2)
    assert [e.cls for e in venv._fallback] == [MyESS]


def test_array_devices_must_be_an_ArrayDevices_subclass(fast_devices):
    DEVICE_REGISTRY["Custom"] = type("OddHeater", (WaterHeater,), {"array_devices": object})
    with pytest.raises(TypeError, match="OddHeater.array_devices must be a subclass"):
        VectorMultiAgentMicrogrids(config("Custom"), 2)
