"""Which solver handles which problem, with which settings, and what a solve cost.

There is one place for this because the oracle's stages and the MPC must agree on
it. They are all continuous SOCPs solved by Clarabel, and ``integer=True`` adds a
mixed-integer SOCP (SCIP or another installed MISOCP solver).

Settings are arguments, not globals to edit. :data:`DEFAULT_SOLVER_OPTIONS` (the
oracle's) and :data:`DEFAULT_MPC_SOLVER_OPTIONS` are read-only; the entry points
(:func:`powergrid.optimization.solve_day` / ``solve_scenario``,
:class:`powergrid.optimization.mpc.MPCController`) take ``solver_options``, a
mapping ``{cvxpy solver name: {option: value}}`` merged into their defaults by
:func:`resolve_solver_options`, and the oracle a ``time_limit_s`` for the MISOCP::

    solve_day(cfg, 0, solver_options={"CLARABEL": {"max_iter": 50}})
    solve_day(cfg, 0, integer=True, time_limit_s=30)   # SCIP's limits/time
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import cvxpy as cp

log = logging.getLogger(__name__)

#: ``{cvxpy solver name: {keyword argument of Problem.solve: value}}``
SolverOptions = Mapping[str, Mapping[str, Any]]


def _frozen(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only view of ``options``, nested mappings included."""
    return MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v
                             for k, v in options.items()})


def _plain(options: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``options`` as plain dicts (what solver interfaces expect)."""
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in options.items()}


#: the MISOCP's default time limit (s) and relative gap. SCIP's branch-and-bound over
#: 24 h of second-order cones can otherwise run for a very long time; pass
#: ``time_limit_s=`` (or ``solver_options``) to the oracle to change them
MISOCP_TIME_LIMIT_S = 120.0
MISOCP_GAP = 1e-3
#: the oracle's solver settings (read-only). Clarabel: its defaults (1e-8) are tighter
#: than the data (hourly profiles, MW to three decimals) deserve. SCIP (MISOCP,
#: integer=True): the time limit and gap above
DEFAULT_SOLVER_OPTIONS: SolverOptions = _frozen({
    "CLARABEL": {"tol_gap_abs": 1e-6, "tol_gap_rel": 1e-6, "tol_feas": 1e-7},
    "SCIP": {"scip_params": {"limits/time": MISOCP_TIME_LIMIT_S, "limits/gap": MISOCP_GAP}},
})
#: the MPC's Clarabel tolerances (read-only), ten times looser than the oracle's. Each
#: plan's first hour only is applied. On test days 0-3 of ieee34_ieee13 the replayed
#: costs agree with plans at the oracle's tolerances to the cent, and Clarabel needs
#: about 7 % fewer iterations
DEFAULT_MPC_SOLVER_OPTIONS: SolverOptions = _frozen({
    "CLARABEL": {"tol_gap_abs": 1e-5, "tol_gap_rel": 1e-5, "tol_feas": 1e-6},
})
MISOCP_SOLVERS = ("SCIP", "GUROBI", "MOSEK", "XPRESS", "CPLEX")
CONTINUOUS_SOLVER = "CLARABEL"
SOLVED = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


class SolverUnavailableError(RuntimeError):
    """The requested problem class needs a solver that is not installed."""


@dataclass
class SolveStats:
    """What the stages of one oracle solve did and how long they took."""

    iterations: int = 0  # CCP iterations
    seconds: float = 0.0  # wall time of the CCP iterations
    relaxed_objective: float = float("nan")
    converged: bool = True
    status: str = ""
    tau: float = 0.0  # the CCP's last penalty weight (0: not run)
    direction_rounds: int = 0
    loss_weight: float = 0.0
    solver_s: float = 0.0  # inside the solver (the rest of a solve is cvxpy compiling)


def pick_solver(integer: bool) -> str:
    """The solver for the model's class, or an error that says what to install."""
    installed = set(cp.installed_solvers())
    if CONTINUOUS_SOLVER not in installed:  # needed in both modes (see .solving)
        raise SolverUnavailableError("Clarabel is not installed: pip install 'clarabel>=0.7'.")
    if not integer:
        return CONTINUOUS_SOLVER
    for name in MISOCP_SOLVERS:
        if name in installed:
            return name
    raise SolverUnavailableError(
        "integer=True needs a mixed-integer second-order-cone solver; none is installed "
        f"(cvxpy sees {sorted(installed)}). HiGHS solves MILPs only and the DistFlow model "
        "has cones. Install SCIP with `pip install pyscipopt`, or use integer=False "
        "(the continuous model; simultaneous charge/discharge is reported as "
        "max_simultaneous_MW).")


def solver_seconds(problem: cp.Problem) -> float:
    """Time the solver itself reported for ``problem``'s last solve (0 if none)."""
    stats = problem.solver_stats
    return float(stats.solve_time) if stats is not None and stats.solve_time else 0.0


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = _plain(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = _plain(v) if isinstance(v, Mapping) else v
    return out


def resolve_solver_options(solver_options: SolverOptions | None = None, *,
                           defaults: SolverOptions = DEFAULT_SOLVER_OPTIONS,
                           time_limit_s: float | None = None) -> dict[str, dict[str, Any]]:
    """``defaults`` with ``solver_options`` merged in, as new plain dicts.

    ``solver_options`` maps a cvxpy solver name (``"CLARABEL"``, ``"SCIP"``, ...; any
    case) to keyword arguments of ``Problem.solve`` for that solver. They are merged
    key by key into the defaults, nested mappings (``scip_params``) too, so
    ``{"SCIP": {"scip_params": {"limits/gap": 0.01}}}`` keeps the default time limit.
    ``time_limit_s`` sets SCIP's ``limits/time`` (the shipped MISOCP solver; give
    another MISOCP solver's limit through ``solver_options``). Neither argument nor
    ``defaults`` is changed.

    Raises:
        ValueError: a solver name cvxpy does not know, or a time limit that is not a
            positive number.
        TypeError: a solver's options that are not a mapping.
    """
    out = _plain(defaults)
    known = set(cp.settings.SOLVERS)
    for name, opts in (solver_options or {}).items():
        key = str(name).upper()
        if key not in known:
            raise ValueError(f"solver_options: unknown solver {name!r}; cvxpy knows "
                             f"{sorted(known)}.")
        if not isinstance(opts, Mapping):
            raise TypeError(f"solver_options[{name!r}] must be a mapping of keyword "
                            f"arguments, got {type(opts).__name__}.")
        out[key] = _merge(out.get(key, {}), opts)
    if time_limit_s is not None:
        limit = float(time_limit_s)
        if not (math.isfinite(limit) and limit > 0):
            raise ValueError(f"time_limit_s must be a positive number of seconds, got "
                             f"{time_limit_s!r}.")
        out["SCIP"] = _merge(out.get("SCIP", {}), {"scip_params": {"limits/time": limit}})
    return out


def solve_kwargs(solver: str, solver_options: SolverOptions | None = None) -> dict[str, Any]:
    """Keyword arguments for ``problem.solve(solver=solver, ...)``: ``solver``'s entry of
    :data:`DEFAULT_SOLVER_OPTIONS` with ``solver_options`` merged in (resolving twice
    changes nothing, so already resolved options pass through), as a fresh dict."""
    return resolve_solver_options(solver_options).get(solver, {})


def run(problem: cp.Problem, solver: str, stats: SolveStats | None = None,
        what: str = "solve", solver_options: SolverOptions | None = None
        ) -> tuple[str, float]:
    """Solve ``problem`` with ``solver``: (cvxpy status, wall seconds).

    ``solver_options``: settings by solver name, merged into
    :data:`DEFAULT_SOLVER_OPTIONS` (:func:`resolve_solver_options`; ``None``: the
    defaults); ``solver``'s entry is passed to ``problem.solve``. A solver failure is returned as the status ``"solver_error"``
    (and logged), so that the caller can fall back rather than stop.
    """
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():  # the status says it (optimal_inaccurate)
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=solver, verbose=False, **solve_kwargs(solver, solver_options))
    except cp.error.SolverError as exc:
        log.warning("%s: solver %s failed: %s", what, solver, exc)
        return "solver_error", time.perf_counter() - t0
    if stats is not None:
        stats.solver_s += solver_seconds(problem)
    return str(problem.status), time.perf_counter() - t0
