"""MPC: the oracle's model re-planned hourly; perfect forecasts reproduce the oracle."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cvxpy")

from powergrid.evaluation import run_policies
from powergrid.optimization import make_env
from powergrid.optimization.mpc import MPCController, forecast_window, mpc_controller
from powergrid.setups.loader import load_setup


@pytest.fixture(scope="module")
def env():
    return make_env(load_setup("ieee34_ieee13"), "test", 24)


def test_perfect_forecast_mpc_reproduces_the_oracle(env):
    df, _ = run_policies(env, ["oracle", "mpc:perfect"], days=[1])
    assert (df.error == "").all(), df.error.tolist()
    by = df.set_index("policy")
    oracle, mpc = by.loc["oracle", "total_cost"], by.loc["mpc:perfect", "total_cost"]
    assert abs(mpc - oracle) <= 0.005 * abs(oracle), (mpc, oracle)
    assert by.loc["mpc:perfect", "convergence_rate"] == 1.0
    assert by.loc["mpc:perfect", "mpc_failed_steps"] == 0
    assert by.loc["mpc:perfect", "mpc_solve_ms_mean"] > 0


def test_forecasts_use_only_the_past(env):
    ctrl = mpc_controller(env, forecast="persistence")
    hist = ctrl.history
    hour = 5 * 24 + 7
    fc = ctrl.forecast_window(hour)
    yesterday = hist.hours_(hour - 24, 24)
    np.testing.assert_array_equal(fc.price, yesterday.price)
    np.testing.assert_array_equal(fc.load_p, yesterday.load_p)
    assert fc.price.shape == (24,) and fc.load_p.shape[0] == 24
    # the seasonal forecast is the mean of the same hours over the last 7 days
    seasonal = forecast_window(hist, hour, 24, "seasonal", seasonal_days=7)
    week = np.mean([hist.hours_(hour - 24 * k, 24).price for k in range(1, 8)], axis=0)
    np.testing.assert_allclose(seasonal.price, week)
    # the perfect forecast is the data itself, and day 0 looks back into the split's end
    real = hist.hours_(hour, 24)
    assert not np.allclose(real.price, yesterday.price)
    wrap = hist.hours_(-24, 24)
    np.testing.assert_array_equal(wrap.price, hist.day(hist.days - 1).price)


def test_the_model_is_compiled_once_and_parameters_matter(env):
    ctrl = mpc_controller(env, forecast="persistence")
    assert ctrl.problem.is_dcp(dpp=True)
    env.reset(seed=0, options={"day": 2})
    ctrl.reset()
    ctrl.actions_at(0)
    compiled = ctrl.compiled
    assert compiled.setups == 1  # one Clarabel solver since the controller was built
    first = compiled.value
    ctrl.inputs.price.value = 2.0 * ctrl.inputs.price.value
    rep = compiled.solve()
    assert rep.status == "optimal"
    assert compiled.setups == 1  # updated in place, not rebuilt
    assert compiled.value != pytest.approx(first, rel=1e-3)


def test_direct_solve_writes_what_cvxpy_would(env):
    """The direct path's variable values are those cvxpy's own unpacking gives for the
    same Clarabel solution, and its objective is the objective evaluated there."""
    ctrl = mpc_controller(env, forecast="persistence")
    env.reset(seed=0, options={"day": 4})
    ctrl.reset()
    ctrl.actions_at(0)
    compiled = ctrl.compiled
    compiled.solve()
    direct = {v.id: np.array(v.value, dtype=float) for v in ctrl.problem.variables()}
    # (the values of nonnegative variables are projected onto >= 0, as cvxpy does:
    # -1e-9 under penalties of 1e5 moves the evaluated objective in the 6th digit)
    assert ctrl.problem.objective.value == pytest.approx(compiled.value, rel=1e-5)
    _, chain, inverse = ctrl.problem.get_problem_data("CLARABEL", solver_opts={})
    ctrl.problem.unpack_results(compiled._solver.solve(), chain, inverse)
    for v in ctrl.problem.variables():
        np.testing.assert_allclose(direct[v.id], v.value, rtol=0, atol=1e-9, err_msg=v.name())


def test_direct_and_cvxpy_backends_plan_alike(env):
    direct = mpc_controller(env, forecast="perfect")
    ref = MPCController(env, forecast="perfect", backend="cvxpy")
    costs = []
    for ctrl in (direct, ref):
        env.reset(seed=0, options={"day": 6})
        ctrl.reset()
        ctrl.actions_at(0)
        ctrl.actions_at(1)
        costs.append(float(ctrl.model.cost_expr.value))
        assert [p.status for p in ctrl.plans[-2:]] == ["optimal", "optimal"]
    assert direct.plans[-1].loss_weight == ref.plans[-1].loss_weight
    assert costs[0] == pytest.approx(costs[1], rel=1e-4)


def test_loss_weight_search_starts_low_each_episode_and_only_rises(env):
    # default: all unpaid losses priced, one solve per hour; the search is an option
    default = mpc_controller(env, forecast="perfect")
    env.reset(seed=0, options={"day": 0})
    default.reset()
    default.actions_at(0)
    assert (default.plans[-1].loss_weight, default.plans[-1].solves) == (1.0, 1)
    ctrl = mpc_controller(env, forecast="perfect", loss_weights=(0.1, 1.0))
    for day in (0, 2):
        env.reset(seed=0, options={"day": day})
        ctrl.reset()
        for t in range(4):
            ctrl.actions_at(t)
        weights = [p.loss_weight for p in ctrl.plans[-4:]]
        assert weights == sorted(weights) and set(weights) <= {0.1, 1.0}
        # the first step tries the smallest weight first, whatever the last episode ended at
        first = ctrl.plans[-4]
        assert first.solves == (1 if first.loss_weight == 0.1 else 2)


def test_bad_options_are_named(env):
    with pytest.raises(ValueError, match="forecast"):
        MPCController(env, forecast="crystal-ball")
    with pytest.raises(ValueError, match="backend"):
        MPCController(env, backend="gurobi")


def _first_plan_is_the_oracles_relaxation(env, day: int) -> None:
    """With perfect forecasts and no loss pricing, the first plan is the oracle's plain
    relaxation: the same model, the same data, the parameters set right."""
    from powergrid.optimization import solve_day

    ctrl = mpc_controller(env, forecast="perfect", loss_weights=(0.0,))
    env.reset(seed=0, options={"day": day})
    ctrl.reset()
    ctrl.actions_at(0)
    assert ctrl.plans[-1].status == "optimal"
    res = solve_day(env.env_config, day, split=env.split, horizon=env.max_episode_steps,
                    env=env)
    planned = float(ctrl.model.cost_expr.value)
    assert planned == pytest.approx(res.relaxed_objective, rel=1e-4, abs=1e-2)


def test_first_plan_is_the_oracles_relaxation(env):
    _first_plan_is_the_oracles_relaxation(env, 3)


@pytest.mark.slow
def test_balance_metered_microgrids_too():
    # ieee123_5mg's microgrids are metered by their power balance (a separate DPP form)
    _first_plan_is_the_oracles_relaxation(make_env(load_setup("ieee123_5mg"), "test", 24), 0)


def test_episodes_shorter_than_a_day_and_short_horizons():
    """MPC reads whole days of data while the episode is 6 hours long (the env's own
    series then covers 7 hours only): the data come from env.exogenous_window."""
    from powergrid.baselines import make_policies
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    env = MultiAgentMicrogrids(dict(load_setup("single_microgrid"), train=False,
                                    max_episode_steps=6))
    policies = make_policies(env, "mpc", mpc_options={"horizon": 6})
    obs, _ = env.reset(seed=0, options={"day": 1})
    for p in policies.values():
        p.reset()
    steps = 0
    while env.agents:
        obs, rewards, *_ = env.step({a: policies[a](obs[a]) for a in env.agents})
        assert all(np.isfinite(r) for r in rewards.values())
        steps += 1
    assert steps == 6


def test_plans_trimmed_at_the_episode_end_act_as_the_full_horizon():
    """The hours past the episode's end are a separate plan (energy reset), so solving
    only up to the end must replay what the full 24 h plans replay, on fewer hours."""
    from powergrid.evaluation import PolicySpec
    from powergrid.optimization.mpc import mpc_policies, plan_lengths

    assert plan_lengths(24, True) == tuple(range(1, 25))
    assert plan_lengths(24, True, step=6) == (6, 12, 18, 24)
    assert plan_lengths(7, True, step=2) == (2, 4, 6, 7)
    assert plan_lengths(24, False) == (24,)
    with pytest.raises(ValueError, match="trim_step"):
        plan_lengths(24, True, step=0)
    env = make_env(load_setup("ieee34_ieee13"), "test", 12)
    specs = [PolicySpec(name=f"trim={t}",
                        factory=lambda e, day, t=t: mpc_policies(e, trim_past_end=t))
             for t in (True, False)]
    df, _ = run_policies(env, specs, days=[2])
    assert (df.error == "").all(), df.error.tolist()
    cost = df.set_index("policy").total_cost
    assert cost["trim=True"] == pytest.approx(cost["trim=False"], abs=0.05)
    trimmed = mpc_controller(env, trim_past_end=True)
    assert [p.hours for p in trimmed.plans] == list(range(12, 0, -1))
    assert [p.hours for p in mpc_controller(env, trim_past_end=False).plans] == [24] * 12
    assert all(p.status == "optimal" for p in trimmed.plans)
