"""Baselines: the devices' one inverse action map, and the operator's rule on test days."""

from __future__ import annotations

import numpy as np
import pytest

from powergrid.agents import ESS, PV, Generator, Setpoint, Transformer
from powergrid.baselines import (
    POLICY_KINDS,
    RuleBasedPolicy,
    make_policies,
    train_price_thresholds,
    volt_var,
)
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.rollout import run_episode
from powergrid.setups.loader import load_setup

GEN = {"bus": "Bus 633", "p_max_MW": 2.0, "p_min_MW": 0.5, "q_max_MVAr": 1.0,
       "q_min_MVAr": -0.6, "s_rated_MVA": 2.5, "cost_curve_coefs": [0.5, 10.0, 0.0]}


# --------------------------------------------------------------------- action_for
def test_generator_setpoint_round_trips_through_its_action():
    g = Generator("g", GEN)
    for p, q in [(0.5, -0.6), (1.2, 0.3), (2.0, 1.0), (0.8, 0.0)]:
        g.set_device_action(g.action_for(Setpoint(p, q)))
        assert g.state.electrical.p_MW == pytest.approx(p, abs=1e-6)
        assert g.state.electrical.q_MVAr == pytest.approx(q, abs=1e-6)
    # arrays give one row per setpoint; out-of-range setpoints give the nearest action
    a = g.action_for(Setpoint(np.array([0.0, 1.25, 9.0]), np.zeros(3)))
    assert a.shape == (3, 2)
    assert a[:, 0].tolist() == pytest.approx([-1.0, 0.0, 1.0])


def test_battery_renewable_and_transformer_round_trip():
    e = ESS("e", {"bus": "b", "e_capacity_MWh": 10.0, "p_max_MW": 1.0, "p_min_MW": -2.0,
                  "q_max_MVAr": 0.5, "init_soc": 0.5})
    e.set_device_action(e.action_for(Setpoint(-1.5, 0.25)))
    assert e.state.electrical.p_MW == pytest.approx(-1.5, abs=1e-6)
    assert e.state.electrical.q_MVAr == pytest.approx(0.25, abs=1e-6)
    pv = PV("pv", {"bus": "b", "p_rated_MW": 1.0, "pf_min": 0.9})
    pv.set_availability(0.8)
    pv.set_device_action(pv.action_for(Setpoint(0.6, 0.1)))
    assert pv.state.electrical.p_MW == pytest.approx(0.6, abs=1e-6)
    assert pv.state.electrical.q_MVAr == pytest.approx(0.1, abs=1e-6)
    t = Transformer("t", {"trafo": "XFM1", "tap_min": -4, "tap_max": 4})
    for tap in (-4, -1, 0, 3, 4):
        t.set_device_action(t.action_for(Setpoint(tap=tap)))
        assert t.state.tap.tap_pos == tap


def test_price_response_uses_the_same_inverse():
    g = Generator("g", GEN)
    # marginal cost 2*0.5*P + 10 = price  ->  P = price - 10, within [0.5, 2]
    assert g.economic_setpoint(11.0) == pytest.approx(1.0)
    assert g.economic_setpoint(5.0) == pytest.approx(0.5)
    assert g.economic_setpoint(100.0) == pytest.approx(2.0)
    g.set_device_action(g.respond_to_price(11.0))
    assert g.state.electrical.p_MW == pytest.approx(1.0, abs=1e-6)


def test_volt_var_absorbs_high_injects_low():
    band = (0.95, 1.05)
    assert volt_var(0.99, 1.01, band, deadband=0.02, full=0.04) == 0.0
    assert volt_var(1.0, 1.04, band, deadband=0.0, full=0.04) == pytest.approx(-1.0)
    assert volt_var(0.98, 1.0, band, deadband=0.0, full=0.04) == pytest.approx(0.5)


# ------------------------------------------------------------------- the rule
@pytest.fixture(scope="module")
def test_env():
    cfg = load_setup("ieee34_ieee13")
    return MultiAgentMicrogrids({**cfg, "train": False, "max_episode_steps": 24})


def test_thresholds_come_from_the_train_split(test_env):
    lo, hi = train_price_thresholds(test_env, (0.25, 0.75))
    price = np.asarray(test_env.dataset["train"]["price"], dtype=float)
    daily = price[: price.size // 24 * 24].reshape(-1, 24)
    assert lo == pytest.approx(np.quantile(daily, 0.25, axis=1).mean())
    assert hi == pytest.approx(np.quantile(daily, 0.75, axis=1).mean())
    assert lo < hi
    with pytest.raises(ValueError, match="price quantiles"):
        train_price_thresholds(test_env, (0.8, 0.2))
    with pytest.raises(ValueError, match="below"):
        RuleBasedPolicy(test_env.agent_dict["MG1"], 50.0, 40.0)


def _mean_cost(env, kind: str, days) -> tuple[float, float]:
    pols = make_policies(env, kind)
    costs, viol = [], []
    for d in days:
        rec = run_episode(env, pols, seed=0, options={"day": d})
        costs.append(rec.total("cost"))
        viol += [r["v_max"] > 1.05 + 1e-4 or r["v_min"] < 0.95 - 1e-4 for r in rec.rows]
    return float(np.mean(costs)), float(np.mean(viol))


def _rule_beats_the_simple_ones(env, days) -> None:
    rule, rule_v = _mean_cost(env, "rule", days)
    zero, _ = _mean_cost(env, "zero", days)
    follow, follow_v = _mean_cost(env, "follow-load", days)
    assert rule < zero and rule < follow, (rule, zero, follow)
    assert rule_v <= follow_v


def test_rule_beats_zero_and_follow_load_on_test_days(test_env):
    _rule_beats_the_simple_ones(test_env, range(0, 84, 14))


@pytest.mark.slow
def test_rule_beats_zero_and_follow_load_on_all_test_days(test_env):
    _rule_beats_the_simple_ones(test_env, range(84))


def test_rule_acts_on_the_observation_and_names_every_kind(test_env):
    obs, _ = test_env.reset(seed=0, options={"day": 0})
    pols = make_policies(test_env, "rule")
    for a in test_env.possible_agents:
        act = pols[a](obs[a])
        assert act.shape == test_env.native_action_spaces[a].shape
        assert np.all(np.abs(act) <= 1.0)
    with pytest.raises(ValueError, match="follow-load"):
        make_policies(test_env, "no-such-policy")
    assert {"rule", "follow-load", "zero", "random", "oracle"} <= set(POLICY_KINDS)
