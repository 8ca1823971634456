"""Solving the oracle's model so that its setpoints replay: a tight cone, no battery
dumping.

The feeder losses belong to the DSO and cost no microgrid anything. So the plain
relaxation "spends" fictitious feeder losses wherever a voltage limit binds, and
no power flow can reproduce its optimum. :func:`solve_model` therefore

1. solves the plain relaxation. Its objective is kept as ``relaxed_objective``, a
   lower bound for the model;
2. if the cone is not tight, re-solves with a small share (``LOSS_WEIGHTS``) of the
   priced feeder losses added to the objective. In practice that makes it exact,
   at a cost within about 1 % of the bound;
3. falls back to the penalty convex-concave procedure (:func:`.exactness.ccp`) if
   it still is not exact;
4. fixes the direction of batteries that charge and discharge at once. That is an
   energy-burning trick the environment's battery cannot play.

``integer=True`` instead takes the battery directions from a mixed-integer SOCP
(SCIP via PySCIPOpt), which is much slower.
"""

from __future__ import annotations

import time
from typing import Any

import cvxpy as cp
import numpy as np

from powergrid.optimization.exactness import ccp, is_exact
from powergrid.optimization.model import Model, build_model
from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.scenario import DayScenario
from powergrid.optimization.solvers import (
    CONTINUOUS_SOLVER,
    SOLVED,
    SolverOptions,
    SolveStats,
    run,
)

#: shares of the priced feeder losses tried, in turn, to make the relaxation exact.
#: Small enough that the dispatch stays within about 1 % of the relaxed bound on the
#: shipped setups
LOSS_WEIGHTS = (0.1, 0.3, 1.0)
#: battery charge and discharge both above this (MW) count as simultaneous
ESS_TOL = 1e-4
ESS_FIX_ROUNDS = 3


def solve_relaxation(model: Model, solver: str, loss_weight: float = 0.0,
                     stats: SolveStats | None = None,
                     solver_options: SolverOptions | None = None) -> tuple[str, float]:
    """Solve the relaxation; ``loss_weight`` > 0 adds that share of the priced feeder
    losses to the objective. ``solver_options``: settings by solver name (``None``:
    the defaults; :mod:`.solvers`). Returns (status, wall seconds)."""
    problem = model.problem
    if loss_weight and model.feeder_loss is not None:
        problem = cp.Problem(cp.Minimize(model.objective + loss_weight * model.feeder_loss),
                             model.constraints)
    return run(problem, solver, stats, solver_options=solver_options)


def directions(model: Model, tol: float) -> dict[tuple[str, str], np.ndarray]:
    """Per battery and hour: +1 discharging, -1 charging, 0 idle (by the net power)."""
    out = {}
    for key, (p_ch, p_dis, _) in model.ess.items():
        net = np.asarray(p_dis.value) - np.asarray(p_ch.value)
        out[key] = np.where(net > tol, 1, np.where(net < -tol, -1, 0))
    return out


def simultaneous(model: Model) -> dict[tuple[str, str], np.ndarray]:
    """Per battery and hour: the power charged and discharged at once (MW)."""
    return {k: np.minimum(np.asarray(c.value), np.asarray(d.value))
            for k, (c, d, _) in model.ess.items()}


def solve_model(sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, opts: dict[str, Any],
                soft: bool, exact: bool, solver: str,
                solver_options: SolverOptions | None = None
                ) -> tuple[Model, str, float, float, SolveStats]:
    """Relaxed solve, then make it replayable (module docstring).

    ``solver_options``: settings by solver name for every solve of every stage, merged
    into :data:`.solvers.DEFAULT_SOLVER_OPTIONS` (:func:`.solvers.resolve_solver_options`).
    Returns (model, status, solve seconds, build seconds, stats).

    Why the loss weight: a relaxation is exact when the objective strictly increases
    with every branch's losses. Microgrids pay for their own losses through the PCC
    import, but feeder losses are free, so the relaxed optimum inflates them to move
    voltages. Charging a share ``w`` of the feeder losses at the energy price
    restores the monotonicity. ``w`` is raised through ``LOSS_WEIGHTS`` until the
    cone is tight, and only then does the slower CCP take over.

    Why the battery step: with separate ``p_ch`` and ``p_dis`` the convex model may
    charge and discharge at once, burning energy in the efficiencies. That is the
    cheapest "dump load" when voltage limits force a microgrid to consume, but the
    environment's battery only sees the net power and cannot do it. The hours where
    it happens get their direction fixed (by the sign of the net power) and the model
    is re-solved. With ``integer=True`` the directions come from the MISOCP's
    binaries. Fixing directions restricts the model, so the result stays a feasible
    point.
    """
    integer = opts["integer"]
    opts = {**opts, "integer": False}
    t0 = time.perf_counter()
    model = build_model(sc, rn, taps, soft=soft, **opts)
    build_s = time.perf_counter() - t0
    stats = SolveStats()
    # the plain continuous relaxation: its objective bounds every later stage (and the
    # MISOCP) from below
    so = solver_options
    status, seconds = solve_relaxation(model, CONTINUOUS_SOLVER, stats=stats, solver_options=so)
    if status not in SOLVED:
        return model, status, seconds, build_s, stats
    stats.relaxed_objective = float(model.cost_expr.value)
    fixes: dict[tuple[str, str], np.ndarray] = {}
    if integer and model.ess:
        t0 = time.perf_counter()
        mip = build_model(sc, rn, taps, soft=soft, **{**opts, "integer": True})
        build_s += time.perf_counter() - t0
        mip_status, s = solve_relaxation(mip, solver, stats=stats, solver_options=so)
        seconds += s
        if mip_status not in SOLVED:
            return mip, mip_status, seconds, build_s, stats
        # continue with the binaries' directions fixed, as a continuous model (CCP needs
        # one); the MISOCP itself is still a relaxation of the cone
        fixes = directions(mip, ESS_TOL)
        model, status, s, b = _rebuild(model, sc, rn, taps, soft, opts, fixes,
                                       CONTINUOUS_SOLVER, stats=stats, solver_options=so)
        seconds += s
        build_s += b
    solver = CONTINUOUS_SOLVER  # every later stage is a continuous SOCP
    weight = 0.0
    if exact and model.feeder_loss is not None and not is_exact(model):
        for weight in LOSS_WEIGHTS:
            status, s = solve_relaxation(model, solver, weight, stats, solver_options=so)
            seconds += s
            if status not in SOLVED or is_exact(model):
                break
        stats.loss_weight = weight
    if exact and status in SOLVED:
        status = ccp(model, solver, stats, status=status, solver_options=so)
        seconds += stats.seconds
    for _ in range(ESS_FIX_ROUNDS):
        if status not in SOLVED or not model.ess:
            break
        sim = simultaneous(model)
        if max(float(v.max()) for v in sim.values()) <= ESS_TOL:
            break
        direction = directions(model, 0.0)
        for key, v in sim.items():
            hours = v > ESS_TOL
            fix = fixes.setdefault(key, np.zeros(sc.horizon, dtype=int))
            # net ~ 0 while dumping: charge-only (the dump was absorbing power)
            fix[hours] = np.where(direction[key][hours] > 0, 1, -1)
        stats.direction_rounds += 1
        model, status, s, b = _rebuild(model, sc, rn, taps, soft, opts, fixes, solver,
                                       loss_weight=stats.loss_weight, stats=stats,
                                       solver_options=so)
        seconds += s
        build_s += b
        if exact and status in SOLVED:
            before = stats.seconds
            status = ccp(model, solver, stats, tau0=stats.tau, status=status,
                         solver_options=so)
            seconds += stats.seconds - before
    return model, status, seconds, build_s, stats


def _rebuild(old: Model, sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, soft: bool,
             opts: dict[str, Any], fixes: dict[tuple[str, str], np.ndarray], solver: str,
             loss_weight: float = 0.0, stats: SolveStats | None = None,
             solver_options: SolverOptions | None = None
             ) -> tuple[Model, str, float, float]:
    """A new model with battery directions fixed, solved (relaxation, ``loss_weight``)."""
    t0 = time.perf_counter()
    model = build_model(sc, rn, taps, soft=soft, **{**opts, "ess_fix": fixes})
    build_s = time.perf_counter() - t0
    status, seconds = solve_relaxation(model, solver, loss_weight, stats, solver_options)
    if status in SOLVED and not is_exact(model):
        # the relaxation drifted: continue the CCP from where the last model was
        for name in ("P", "Q", "L", "W", "Ureg"):
            src, dst = getattr(old, name), getattr(model, name)
            if src is not None and dst is not None and src.value is not None:
                dst.value = src.value
    return model, status, seconds, build_s
