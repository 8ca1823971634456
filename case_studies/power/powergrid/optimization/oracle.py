"""Perfect-forecast, multi-period optimal dispatch ("oracle") of a setup for one day.

Why an oracle: RL and rule-based controllers mean something only next to the best
achievable cost. With the whole day's loads, prices and renewable availability
known in advance, a convex optimal power flow over the 24 hours gives that
reference. Its setpoints can be replayed through the environment to check it.

The parts, each in its own module:

* :mod:`.scenario`: the day's data, read off the environment itself;
* :mod:`.model`: the DistFlow SOCP (network, regulators, limits), with
  :mod:`.devices` for the devices and :mod:`.metering` for what each microgrid is
  billed. The MPC uses the same three;
* :mod:`.solving`: the relaxation, then the steps that make it replayable (priced
  feeder losses, the convex-concave procedure of :mod:`.exactness`, fixing the
  battery directions); :mod:`.solvers` says which solver and settings;
* :mod:`.ac_correction`: the replay through the environment and the re-solve of the
  hours in which the environment's regulators leave a bus outside its band;
* :mod:`.result`: the :class:`OracleResult`, with costs by the environment's own
  cost functions.

Limits are hard. If the hard problem is infeasible it is re-solved with penalised
slacks (voltage, line current, shed load), and the violated constraints are named
(``OracleResult.violations``).
"""

from __future__ import annotations

from typing import Any

import cvxpy as cp  # noqa: F401  (tests patch cp.installed_solvers through this module)

from powergrid.optimization.exactness import CCP_DV_TOL, CCP_LOSS_TOL, is_exact
from powergrid.optimization.model import Model, default_voltage_margin, tap_positions
from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.result import OracleResult, extract, violations
from powergrid.optimization.scenario import DayScenario, make_env, scenario_from_env
from powergrid.optimization.solvers import (
    CONTINUOUS_SOLVER,
    SOLVED,
    SolverOptions,
    SolverUnavailableError,
    SolveStats,
    pick_solver,
    resolve_solver_options,
)
from powergrid.optimization.solving import LOSS_WEIGHTS, solve_model

__all__ = ["CCP_DV_TOL", "CCP_LOSS_TOL", "LOSS_WEIGHTS", "OracleResult",
           "SolverUnavailableError", "solve_day", "solve_scenario"]


def solve_scenario(sc: DayScenario, *, integer: bool = False, taps: Any = "regulated",
                   soft: bool = False, exact: bool = True, voltage_buses: str = "microgrids",
                   voltage_margin: float | None = None,
                   network: RadialNetwork | None = None,
                   fixed_tap_hours: Any = None,
                   solver_options: SolverOptions | None = None,
                   time_limit_s: float | None = None) -> OracleResult:
    """Solve one prepared :class:`DayScenario` (see :func:`solve_day` for the options).

    ``fixed_tap_hours`` (a (T,) bool mask) keeps, in those hours, every tap at
    ``taps``' row, the regulators' included (:mod:`.ac_correction` uses it; the
    regulators stay free in the other hours).
    """
    options = resolve_solver_options(solver_options, time_limit_s=time_limit_s)
    solver = pick_solver(integer)
    # integer: the MISOCP only decides the battery directions, Clarabel does the rest
    name = f"{solver}+{CONTINUOUS_SOLVER}" if integer else solver
    rn = network or RadialNetwork.from_net(sc.net)
    if fixed_tap_hours is not None:
        if isinstance(taps, str):
            raise ValueError("fixed_tap_hours needs taps as an array (T, n_trafo) holding "
                             "the positions of those hours.")
        tap_arr, _ = tap_positions(sc, taps)
        regulated = True
    else:
        tap_arr, regulated = tap_positions(sc, taps)
    if voltage_margin is None:
        voltage_margin = default_voltage_margin(sc, regulated)
    opts = {"integer": integer, "voltage_buses": voltage_buses, "regulated": regulated,
            "voltage_margin": float(voltage_margin), "fixed_tap_hours": fixed_tap_hours}
    model, status, solve_s, build_s, stats = solve_model(sc, rn, tap_arr, opts, soft, exact,
                                                         solver, options)
    ok = status in SOLVED
    if ok and stats.converged:
        found = violations(model, sc, rn) if soft else []
        feasible = not found
        return _finish(model, sc, rn, tap_arr, stats, status="optimal" if feasible else
                       "infeasible", feasible=feasible, solve_s=solve_s, build_s=build_s,
                       solver=name, solver_status=status, violations=found)
    if soft:
        return _finish(model, sc, rn, tap_arr, stats, status="solver_error", feasible=False,
                       solve_s=solve_s, build_s=build_s, solver=name, solver_status=status,
                       violations=[])
    # hard limits infeasible, or only reachable through the relaxation's fictitious
    # losses (CCP did not close the gap): re-solve with penalised slacks, name culprits
    hard_status = status
    if ok and not stats.converged:
        hard_status = f"{status}, relaxation gap not closed"
    soft_model, soft_status, soft_s, soft_b, soft_stats = solve_model(
        sc, rn, tap_arr, opts, True, exact, solver, options)
    build_s += soft_b
    soft_stats.solver_s += stats.solver_s
    ok = soft_status in SOLVED
    found = violations(soft_model, sc, rn) if ok else []
    if ok and not found:
        found = [f"no limit violated at the penalised optimum; the hard problem was "
                 f"reported {hard_status} by {name} (numerical trouble)"]
    return _finish(soft_model, sc, rn, tap_arr, soft_stats,
                   status="infeasible" if ok else "solver_error", feasible=False,
                   solve_s=solve_s + soft_s, build_s=build_s, solver=name,
                   solver_status=f"{hard_status} (hard) / {soft_status} (soft)",
                   violations=found)


def _finish(model: Model, sc: DayScenario, rn: RadialNetwork, taps: Any,
            stats: SolveStats, **kw: Any) -> OracleResult:
    res = extract(model, sc, rn, taps, **kw)
    res.relaxed_objective = stats.relaxed_objective
    res.ccp_iterations = stats.iterations
    res.exact = bool(model.P.value is not None and is_exact(model))
    res.loss_weight = stats.loss_weight
    res.solver_time_s = stats.solver_s
    return res


def solve_day(config: dict[str, Any], day: int, split: str = "test", horizon: int = 24,
              integer: bool = False, *, taps: Any = "regulated", soft: bool = False,
              exact: bool = True, voltage_buses: str = "microgrids",
              voltage_margin: float | None = None, ac_correction: bool = True,
              env: Any = None, solver_options: SolverOptions | None = None,
              time_limit_s: float | None = None) -> OracleResult:
    """Optimal dispatch of ``config`` for ``day`` of ``split`` (perfect forecast).

    Args:
        config: an ``env_config`` (e.g. ``load_setup("ieee34_ieee13")``); ``train`` and
            ``max_episode_steps`` are overridden by ``split`` and ``horizon``.
        day: day index within the split, as ``env.reset(options={"day": day})``.
        split: "test" or "train".
        horizon: hours to plan (one episode of that many steps).
        integer: forbid simultaneous battery charge/discharge with binaries (MISOCP).
        taps: "regulated" (default): the env's automatic regulators hold their bus at
            v_set with a free (continuous) ratio, other taps fixed at their post-reset
            positions; "initial": every tap fixed at its post-reset position; or an
            array ``(horizon, n_trafo)`` / ``(n_trafo,)`` of fixed positions.
        soft: always solve with penalised slacks (skips the hard solve).
        exact: tighten an inexact relaxation with the penalty convex-concave procedure
            (``False``: report the plain relaxation and its gap).
        voltage_buses: "microgrids" (the buses the env scores) or "all".
        voltage_margin: pu taken off both voltage limits in the model. Default: half the
            regulators' bandwidth when they are modelled (:func:`.model.default_voltage_margin`).
        ac_correction: replay the plan through the environment and re-solve the hours in
            which a microgrid bus leaves its band, with the taps the environment's
            regulators really reach (:mod:`.ac_correction`). ``False`` gives the
            uncorrected plan. The correction applies to the default ``taps="regulated"``
            only.
        env: an environment built from ``config`` for this split/horizon, to reuse.
        solver_options: solver settings, ``{cvxpy solver name: {option: value}}``,
            merged key by key into :data:`.solvers.DEFAULT_SOLVER_OPTIONS` (Clarabel's
            tolerances, SCIP's time limit and gap) and used by every solve of every
            stage, the AC correction's included. Example:
            ``{"CLARABEL": {"max_iter": 50}}``. ``None``: the defaults.
        time_limit_s: the MISOCP's (``integer=True``, SCIP) time limit in seconds;
            default :data:`.solvers.MISOCP_TIME_LIMIT_S`. Overrides a limit given
            in ``solver_options``.
    """
    env = env if env is not None else make_env(config, split, horizon)
    sc = scenario_from_env(env, day, horizon)
    kwargs = {"integer": integer, "soft": soft, "exact": exact,
              "voltage_buses": voltage_buses, "voltage_margin": voltage_margin,
              "solver_options": solver_options, "time_limit_s": time_limit_s}
    res = solve_scenario(sc, taps=taps, **kwargs)
    if ac_correction and isinstance(taps, str) and taps == "regulated" and sc.regulators:
        from powergrid.optimization.ac_correction import correct_by_replay

        res = correct_by_replay(env, sc, res, **kwargs)
    return res
