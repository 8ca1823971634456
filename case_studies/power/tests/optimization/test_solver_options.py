"""Solver settings are arguments with read-only defaults, and they reach the solver."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from powergrid.optimization import ac_correction as ac_mod
from powergrid.optimization import make_env, solve_day, solvers
from powergrid.optimization.mpc import MPCController, mpc_controller
from powergrid.optimization.solvers import (
    DEFAULT_MPC_SOLVER_OPTIONS,
    DEFAULT_SOLVER_OPTIONS,
    MISOCP_TIME_LIMIT_S,
    SOLVED,
    resolve_solver_options,
    run,
)
from powergrid.setups.loader import load_setup


@pytest.fixture(scope="module")
def config():
    return load_setup("single_microgrid")


@pytest.fixture(scope="module")
def env(config):
    return make_env(config, "test", 24)


def _small_socp():
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(8, 4)), rng.normal(size=8)
    x = cp.Variable(4)
    return cp.Problem(cp.Minimize(cp.norm(A @ x - b)), [cp.norm(x) <= 0.5, x >= -0.3])


# -- the defaults ------------------------------------------------------------------------
def test_no_mutable_module_globals_remain():
    assert not hasattr(solvers, "SOLVER_OPTIONS")
    assert not hasattr(solvers, "MPC_SOLVER_OPTIONS")


@pytest.mark.parametrize("defaults", [DEFAULT_SOLVER_OPTIONS, DEFAULT_MPC_SOLVER_OPTIONS],
                         ids=["oracle", "mpc"])
def test_defaults_cannot_be_mutated(defaults):
    before = resolve_solver_options(defaults=defaults)
    with pytest.raises(TypeError):
        defaults["CLARABEL"] = {"max_iter": 1}
    with pytest.raises(TypeError):
        defaults["CLARABEL"]["max_iter"] = 1
    with pytest.raises(TypeError):
        del defaults["CLARABEL"]["tol_feas"]
    assert resolve_solver_options(defaults=defaults) == before


def test_nested_scip_params_are_read_only_too():
    params = DEFAULT_SOLVER_OPTIONS["SCIP"]["scip_params"]
    assert params["limits/time"] == MISOCP_TIME_LIMIT_S
    with pytest.raises(TypeError):
        params["limits/time"] = 1.0


def test_resolved_options_are_fresh_plain_dicts():
    a = resolve_solver_options()
    assert type(a) is dict and type(a["CLARABEL"]) is dict
    assert type(a["SCIP"]["scip_params"]) is dict
    a["CLARABEL"]["max_iter"] = 1
    a["SCIP"]["scip_params"]["limits/time"] = 1.0
    b = resolve_solver_options()
    assert "max_iter" not in b["CLARABEL"]
    assert b["SCIP"]["scip_params"]["limits/time"] == MISOCP_TIME_LIMIT_S
    assert "max_iter" not in DEFAULT_SOLVER_OPTIONS["CLARABEL"]


# -- merging -----------------------------------------------------------------------------
def test_overrides_merge_key_by_key():
    user = {"clarabel": {"max_iter": 5}, "SCIP": {"scip_params": {"limits/gap": 0.01}}}
    out = resolve_solver_options(user)
    assert out["CLARABEL"] == {**DEFAULT_SOLVER_OPTIONS["CLARABEL"], "max_iter": 5}
    assert out["SCIP"]["scip_params"] == {"limits/time": MISOCP_TIME_LIMIT_S,
                                          "limits/gap": 0.01}
    assert user == {"clarabel": {"max_iter": 5},
                    "SCIP": {"scip_params": {"limits/gap": 0.01}}}  # input unchanged
    out = resolve_solver_options({"SCS": {"eps": 1e-3}})  # a solver without defaults
    assert out["SCS"] == {"eps": 1e-3}


def test_time_limit_sets_scips_limit_and_wins():
    out = resolve_solver_options({"SCIP": {"scip_params": {"limits/time": 50.0}}},
                                 time_limit_s=7)
    assert out["SCIP"]["scip_params"] == {"limits/time": 7.0, "limits/gap": 1e-3}
    assert resolve_solver_options(time_limit_s=7)["CLARABEL"] == \
        dict(DEFAULT_SOLVER_OPTIONS["CLARABEL"])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown solver 'CLARABELL'"):
        resolve_solver_options({"CLARABELL": {}})
    with pytest.raises(TypeError, match=r"solver_options\['CLARABEL'\] must be a mapping"):
        resolve_solver_options({"CLARABEL": 5})
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="time_limit_s"):
            resolve_solver_options(time_limit_s=bad)


# -- the options reach the solver --------------------------------------------------------
def test_run_passes_the_options_to_the_solver():
    p = _small_socp()
    assert run(p, "CLARABEL")[0] == "optimal"
    default_iters = p.solver_stats.num_iters
    assert default_iters > 2
    status, _ = run(p, "CLARABEL", solver_options={"CLARABEL": {"max_iter": 1}})
    assert status not in SOLVED and p.solver_stats.num_iters == 1
    # resolved options pass through unchanged
    status, _ = run(_small_socp(), "CLARABEL", solver_options=resolve_solver_options(
        {"CLARABEL": {"max_iter": 2}}))
    assert status not in SOLVED
    # options for another solver do not leak into this one, and the defaults stay (a
    # fresh problem: cvxpy keeps a solved problem's Clarabel settings for its next solve)
    fresh = _small_socp()
    assert run(fresh, "CLARABEL", solver_options={"SCS": {"max_iters": 1}})[0] == "optimal"
    assert fresh.solver_stats.num_iters == default_iters


def test_solve_day_threads_options_through_every_stage(config, env, monkeypatch):
    seen = []
    real = cp.Problem.solve

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return real(self, *args, **kwargs)

    corrected = []
    real_correct = ac_mod.correct_by_replay

    def correct_spy(*args, **kwargs):
        corrected.append(kwargs)
        return real_correct(*args, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", spy)
    monkeypatch.setattr(ac_mod, "correct_by_replay", correct_spy)
    user = {"CLARABEL": {"max_iter": 400, "tol_feas": 1e-6}}
    res = solve_day(config, 0, env=env, solver_options=user)
    assert res.status == "optimal"
    assert seen and all(k.get("solver") == "CLARABEL" for k in seen)
    assert all(k["max_iter"] == 400 and k["tol_feas"] == 1e-6 for k in seen), seen
    assert all(k["tol_gap_abs"] == DEFAULT_SOLVER_OPTIONS["CLARABEL"]["tol_gap_abs"]
               for k in seen)
    # the AC correction re-solves with the same settings
    assert corrected and corrected[0]["solver_options"] is user
    assert corrected[0]["time_limit_s"] is None


def test_a_tiny_iteration_limit_changes_the_oracles_outcome(config, env):
    assert solve_day(config, 0, env=env).status == "optimal"
    res = solve_day(config, 0, env=env, solver_options={"CLARABEL": {"max_iter": 1}})
    assert res.status != "optimal" and not res.feasible


@pytest.mark.parametrize("backend", ["direct", "cvxpy"])
def test_mpc_options_reach_clarabel(env, backend):
    def first_plan(**kw):
        ctrl = MPCController(env, backend=backend, **kw)
        env.reset(seed=0, options={"day": 0})
        ctrl.reset()
        ctrl.actions_at(0)
        return ctrl, ctrl.plans[-1]

    ctrl, plan = first_plan()
    assert plan.status in SOLVED and plan.iterations > plan.solves
    assert ctrl.solver_options["CLARABEL"] == dict(DEFAULT_MPC_SOLVER_OPTIONS["CLARABEL"])
    ctrl, plan = first_plan(solver_options={"CLARABEL": {"max_iter": 1}})
    assert ctrl.solver_options["CLARABEL"]["max_iter"] == 1
    assert ctrl.solver_options["CLARABEL"]["tol_feas"] == \
        DEFAULT_MPC_SOLVER_OPTIONS["CLARABEL"]["tol_feas"]
    assert plan.status not in SOLVED
    assert plan.iterations <= plan.solves  # at most one iteration per solve
    assert "max_iter" not in DEFAULT_MPC_SOLVER_OPTIONS["CLARABEL"]


def test_mpc_refuses_options_for_another_solver(env):
    with pytest.raises(ValueError, match=r"solver_options for \['SCIP'\].*CLARABEL only"):
        MPCController(env, solver_options={"SCIP": {"scip_params": {}}})


def test_mpc_controller_cache_takes_solver_options(env):
    a = mpc_controller(env, solver_options={"CLARABEL": {"max_iter": 200}})
    b = mpc_controller(env, solver_options={"CLARABEL": {"max_iter": 200}})
    c = mpc_controller(env, solver_options={"CLARABEL": {"max_iter": 300}})
    assert a is b and a is not c
    assert c.solver_options["CLARABEL"]["max_iter"] == 300


def test_time_limit_reaches_every_stage_of_the_oracle(config, env, monkeypatch):
    """SCIP is not needed to see the MISOCP's limit handed to the solving stages."""
    from powergrid.optimization import oracle as oracle_mod

    got = []
    real = oracle_mod.solve_model

    def spy(*args, **kwargs):
        got.append(args[7] if len(args) > 7 else kwargs["solver_options"])
        return real(*args, **kwargs)

    monkeypatch.setattr(oracle_mod, "solve_model", spy)
    res = solve_day(config, 0, env=env, time_limit_s=7, ac_correction=False)
    assert res.status == "optimal" and got
    for options in got:
        assert options["SCIP"]["scip_params"] == {"limits/time": 7.0, "limits/gap": 1e-3}
        assert options["CLARABEL"] == dict(DEFAULT_SOLVER_OPTIONS["CLARABEL"])
    with pytest.raises(ValueError, match="time_limit_s"):
        solve_day(config, 0, env=env, time_limit_s=-1)
