import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.core.action import ActionError
from powergrid.agents import ESS, PV, ConfigError, Generator, Transformer, WindTurbine

GEN = {"bus": "Bus 633", "p_max_MW": 2.0, "p_min_MW": 0.5, "q_max_MVAr": 1.0,
       "q_min_MVAr": -1.0, "s_rated_MVA": 2.2, "cost_curve_coefs": [0.02, 10.0, 1.0]}


def test_generator_maps_actions_and_prices_quadratically():
    g = Generator("g", GEN)
    g.set_device_action([1.0, 0.0])
    assert g.state.electrical.p_MW == pytest.approx(2.0)
    g.update_cost_safety()
    assert g.cost == pytest.approx(0.02 * 4 + 10 * 2 + 1)
    g.set_device_action([-1.0, 0.0])
    assert g.state.electrical.p_MW == pytest.approx(0.5)


def test_generator_capability_circle_limits_q_first():
    g = Generator("g", GEN)
    g.set_device_action([1.0, 1.0])  # P=2, Q=1 -> S=2.236 > 2.2
    p, q = g.state.electrical.p_MW, g.state.electrical.q_MVAr
    assert p == pytest.approx(2.0)
    assert np.hypot(p, q) <= 2.2 + 1e-9 and q > 0


def test_generator_commitment_startup_delay_and_cost():
    g = Generator("g", {**GEN, "allow_commitment": True, "init_on": False,
                        "startup_time_hr": 2.0, "startup_cost": 50.0})
    assert g.get_action_space().shape == (3,)
    outputs = []
    costs = []
    for _ in range(4):
        g.set_device_action([1.0, 0.0, 1.0])
        g.update_cost_safety()
        outputs.append(g.state.electrical.p_MW)
        costs.append(g.cost)
    assert outputs[0] == 0.0 and outputs[-1] == pytest.approx(2.0)
    assert outputs.index(2.0) == 1  # online after 2 hours of start-up
    assert costs[1] >= 50.0


@pytest.mark.parametrize("bad,match", [
    ({**GEN, "p_min_MW": 3.0}, "p_min_MW"),
    ({**GEN, "s_rated_MVA": -1}, "s_rated_MVA"),
    ({**GEN, "colour": "red"}, "unknown device_state_config key"),
])
def test_generator_config_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        Generator("g", bad)


def test_actions_nan_rejected_and_out_of_range_clipped():
    g = Generator("g", GEN)
    with pytest.raises(ActionError, match="NaN"):
        g.set_device_action([np.nan, 0.0])
    with pytest.raises(ActionError, match="inf"):
        g.set_action([np.inf, 0.0])
    g.set_device_action([7.0, 0.0])
    assert g.state.electrical.p_MW == pytest.approx(2.0)


def test_ess_energy_accounting_with_efficiencies():
    e = ESS("e", {"bus": "b", "e_capacity_MWh": 10.0, "p_max_MW": 1.0, "p_min_MW": -1.0,
                  "init_soc": 0.5, "ch_eff": 0.9, "dsc_eff": 0.8})
    e.set_device_action([1.0])  # discharge 1 MW for 1 h -> 1/0.8 MWh leaves the cells
    e.update_state()
    assert e.state.storage.soc == pytest.approx(0.5 - 1.25 / 10)
    e.set_device_action([-1.0])  # charge 1 MW -> 0.9 MWh enters
    e.update_state()
    assert e.state.storage.soc == pytest.approx(0.375 + 0.09)
    e.update_cost_safety()
    assert e.cost == pytest.approx(2.0) and e.safety == 0.0


def test_ess_config_errors():
    with pytest.raises(ConfigError, match="e_capacity_MWh must be positive"):
        ESS("e", {"bus": "b", "e_capacity_MWh": -1})
    with pytest.raises(ConfigError, match="init_soc"):
        ESS("e", {"bus": "b", "init_soc": 0.95})


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(st.floats(-5, 5), min_size=1, max_size=80),
       dt=st.sampled_from([0.25, 0.5, 1.0]),
       eff=st.floats(0.5, 1.0))
def test_soc_never_leaves_limits(actions, dt, eff):
    e = ESS("e", {"bus": "b", "e_capacity_MWh": 2.0, "p_max_MW": 3.0, "p_min_MW": -3.0,
                  "soc_min": 0.2, "soc_max": 0.8, "init_soc": 0.5, "ch_eff": eff, "dsc_eff": eff})
    e.dt = dt
    for a in actions:
        soc_before = e.state.storage.soc
        e.set_device_action([a])
        p = e.state.electrical.p_MW
        e.update_state()
        soc = e.state.storage.soc
        assert 0.2 - 1e-12 <= soc <= 0.8 + 1e-12
        # energy conservation: the SOC moved exactly by what the setpoint implies
        expected = soc_before - (p * dt / eff if p >= 0 else p * dt * eff) / 2.0
        assert soc == pytest.approx(min(max(expected, 0.2), 0.8), abs=1e-9)
        assert abs(expected - soc) < 1e-9


def test_renewables_curtailment():
    w = WindTurbine("w", {"bus": "b", "p_rated_MW": 2.0, "curtailment_cost_per_MWh": 5.0})
    w.set_availability(0.5)
    w.set_device_action([0.0])  # deliver half of 1 MW
    w.update_cost_safety()
    assert w.state.electrical.p_MW == pytest.approx(0.5)
    assert w.cost == pytest.approx(2.5)
    assert PV.capabilities.source == "solar" and WindTurbine.capabilities.source == "wind"


def test_transformer_discrete_taps_and_cost():
    t = Transformer("t", {"trafo": "XFM1", "tap_min": -2, "tap_max": 2, "tap_cost": 3.0})
    t.set_device_action([1.0])
    t.update_cost_safety()
    assert t.state.tap.tap_pos == 2 and t.cost == pytest.approx(6.0)
    t.set_device_action([0.1])
    assert t.state.tap.tap_pos == 0
