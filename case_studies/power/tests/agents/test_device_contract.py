"""The one device contract: capabilities, limits, the action <-> setpoint maps, one call
direction; and the env's public data path that planners read instead of its privates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from gymnasium.spaces import Box
from hypothesis import given, settings
from hypothesis import strategies as st

from powergrid.agents import (
    ESS,
    PV,
    Capabilities,
    ConfigError,
    DeviceAgent,
    Generator,
    Setpoint,
    Transformer,
    WindTurbine,
    capabilities_of,
)
from powergrid.baselines import make_policies
from powergrid.core.features.electrical import ElectricalBasePh
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.optimization.scenario import UnsupportedSetupError, scenario_from_env
from powergrid.setups.loader import load_setup

GEN = {"bus": "b", "p_max_MW": 2.0, "p_min_MW": 0.5, "q_max_MVAr": 1.0, "q_min_MVAr": -0.6,
       "s_rated_MVA": 2.5, "cost_curve_coefs": [0.5, 10.0, 0.0]}


def test_built_in_types_declare_their_capabilities():
    assert Generator.capabilities == Capabilities(dispatchable=True)
    assert ESS.capabilities == Capabilities(storage=True)
    assert Transformer.capabilities == Capabilities(tap=True)
    assert PV.capabilities == Capabilities(curtailable=True, source="solar")
    assert WindTurbine.capabilities == Capabilities(curtailable=True, source="wind")
    with pytest.raises(ConfigError, match="'solar' or 'wind'"):
        Capabilities(curtailable=True, source="hydro")


def test_the_guides_recipe_runs_one_way_and_has_inferred_capabilities(guide_wind_turbine):
    wt = guide_wind_turbine("wt", {"bus": "Bus 680", "p_rated_MW": 0.8})
    # set_device_action (the recipe's physics) is the class's apply_action
    assert type(wt).apply_action is type(wt).set_device_action
    wt.available_power = 0.6
    wt.set_action(np.array([1.7]))  # heron's validated entry clips to the Box first
    assert wt.state.electrical.p_MW == pytest.approx(0.6)
    assert capabilities_of(wt) == Capabilities(curtailable=True, source="wind")

    class HalfTurbine(guide_wind_turbine):  # a recipe-style override of a recipe class
        def set_device_action(self, action):
            self.state.electrical.p_MW = 0.5 * self.available_power * action[0]

    half = HalfTurbine("h", {"bus": "Bus 680"})
    half.available_power = 0.6
    half.apply_action(np.array([1.0]))
    assert half.state.electrical.p_MW == pytest.approx(0.3)


def test_a_device_implementing_neither_method_names_both():
    class Bare(DeviceAgent):
        def get_action_space(self):
            return Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    with pytest.raises(NotImplementedError, match="apply_action.*set_device_action"):
        Bare("x").set_action([0.0])
    with pytest.raises(NotImplementedError, match="action_for"):
        Bare("x").action_for(Setpoint(0.0))
    assert capabilities_of(Bare("x")) == Capabilities()


@settings(max_examples=60, deadline=None)
@given(p=st.floats(0.5, 2.0), q=st.floats(-0.6, 1.0))
def test_generator_maps_are_inverse_within_its_capability_circle(p, q):
    g = Generator("g", GEN)
    if p * p + q * q > GEN["s_rated_MVA"] ** 2:
        return
    g.set_device_action(g.action_for(Setpoint(p, q)))
    assert g.state.electrical.p_MW == pytest.approx(p, abs=1e-5)
    assert g.state.electrical.q_MVAr == pytest.approx(q, abs=1e-5)
    lim = g.limits()
    assert (lim.p_min_MW, lim.p_max_MW) == (0.5, 2.0)
    assert g.reactive_range(p) == (-0.6, 1.0)


def test_renewable_reactive_range_follows_the_power_factor():
    pv = PV("pv", {"bus": "b", "p_rated_MW": 1.0, "pf_min": 0.8})
    lo, hi = pv.reactive_range(0.5)
    assert hi == pytest.approx(0.5 * 0.75) and lo == pytest.approx(-hi)
    assert pv.limits().p_max_MW == 1.0


def test_a_tap_setpoint_needs_a_tap():
    t = Transformer("t", {"trafo": "XFM1"})
    with pytest.raises(ValueError, match="'t'.*Setpoint\\(tap=...\\)"):
        t.action_for(Setpoint(p_MW=1.0))


@dataclass
class _CellConfig:
    bus: str
    p_max_MW: float = 0.3
    fuel_cost_per_MWh: float = 45.0


class _FuelCell(DeviceAgent):
    """A dispatchable device of a new type: one class, no change anywhere else."""

    capabilities = Capabilities(dispatchable=True)

    def __init__(self, agent_id, device_state_config, **kwargs):
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        self.config = _CellConfig(**device_state_config)
        self.state.add_feature("electrical", ElectricalBasePh())

    def get_action_space(self):
        return Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def apply_action(self, action):
        self.state.electrical.p_MW = float((action[0] + 1.0) / 2.0 * self.config.p_max_MW)

    def action_for(self, setpoint):
        p = np.asarray(setpoint.p_MW, dtype=float)
        return np.clip(2.0 * p / self.config.p_max_MW - 1.0, -1, 1)[..., None].astype(np.float32)

    def limits(self):
        from powergrid.agents import DeviceLimits

        return DeviceLimits(p_max_MW=self.config.p_max_MW)

    def marginal_cost(self, p_MW):
        return self.config.fuel_cost_per_MWh

    def economic_setpoint(self, price):
        return self.config.p_max_MW if price > self.config.fuel_cost_per_MWh else 0.0

    def update_cost_safety(self):
        self.cost = self.config.fuel_cost_per_MWh * self.state.electrical.p_MW * self.dt
        self.safety = 0.0


@pytest.fixture
def fuel_cell_env():
    from powergrid.agents.registry import DEVICE_REGISTRY

    DEVICE_REGISTRY["TestFuelCell"] = _FuelCell
    try:
        yield MultiAgentMicrogrids({
            "train": False, "max_episode_steps": 24,
            "microgrid_configs": [{"name": "MG1", "load_scale": 0.3, "devices": [
                {"type": "TestFuelCell", "name": "fc", "device_state_config": {"bus": "Bus 675"}},
                {"type": "ESS", "name": "ess", "device_state_config": {"bus": "Bus 634"}}]}]})
    finally:
        del DEVICE_REGISTRY["TestFuelCell"]


@pytest.mark.parametrize("kind", ["rule", "follow-load"])
def test_baselines_run_a_new_dispatchable_type_by_its_declaration(fuel_cell_env, kind):
    env = fuel_cell_env
    policies = make_policies(env, kind)
    obs, _ = env.reset(seed=0)
    mg = env.agent_dict["MG1"]
    fc = mg.devices["fc"]
    ran = 0
    for _ in range(24):
        price = mg.price
        obs, *_ = env.step({"MG1": policies["MG1"](obs["MG1"])})
        p = fc.state.electrical.p_MW
        assert p <= 1e-9 or price > fc.config.fuel_cost_per_MWh, "ran at a loss"
        ran += p > 1e-9
    assert ran > 0  # the day has hours above 45 $/MWh: a zero policy would never run it


def test_the_oracle_refuses_a_capability_with_a_config_it_cannot_read(fuel_cell_env):
    with pytest.raises(UnsupportedSetupError, match="'fc'.*dispatchable.*GeneratorConfig"):
        scenario_from_env(fuel_cell_env, day=0)


def _trajectory(env, steps, peek=None):
    obs, _ = env.reset(seed=3, options={"day": 2})
    out = []
    rng = np.random.default_rng(0)
    for t in range(steps):
        if peek is not None and t == steps // 2:
            window = env.exogenous_window(peek, 30)  # another day, longer than an episode
            assert window.price.shape == (30,) and window.load_p.shape[0] == 30
        actions = {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32)
                   for a in env.agents}
        obs, rewards, *_ = env.step(actions)
        out.append((np.concatenate([obs[a] for a in sorted(obs)]), sorted(rewards.items())))
    return out


def test_reading_a_window_leaves_the_episode_untouched():
    config = load_setup("ieee34_ieee13")
    config["train"] = False
    plain = _trajectory(MultiAgentMicrogrids(config), 8)
    peeked = _trajectory(MultiAgentMicrogrids(config), 8, peek=24 * 5 + 7)
    for (o1, r1), (o2, r2) in zip(plain, peeked, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


def test_a_window_is_the_data_an_episode_sees():
    config = load_setup("ieee34_ieee13")
    config["train"] = False
    env = MultiAgentMicrogrids(config)
    env.reset(seed=0, options={"day": 4})
    window = env.exogenous_window(env.start_hour, 6)
    np.testing.assert_array_equal(window.price, env.episode_prices[:6])
    env.step({a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents})
    for t in range(1, 6):
        env.step({a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents})
        np.testing.assert_array_equal(env.grid_model.load_p, window.load_p[t])
    with pytest.raises(ValueError, match="hours must be >= 1"):
        env.exogenous_window(0, 0)


def test_import_meter_names_the_element_the_env_settles_on():
    config = load_setup("ieee34_ieee13")
    env = MultiAgentMicrogrids(config)
    env.reset(seed=0)
    res = env.last_result
    for agent in env.agent_dict.values():
        kind, idx = agent.import_meter
        assert kind == "pcc_trafo"
        assert env.net.trafo.name.at[idx] == f"{agent.agent_id} PCC"
        assert agent.state.exchange.p_import_MW == pytest.approx(
            float(res.trafo_p_hv_mw[env.grid_model.trafo_pos[idx]]))
        assert agent.bus_index.size and agent.load_rows.size
