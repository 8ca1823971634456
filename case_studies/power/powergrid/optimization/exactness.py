"""Is the relaxation exact here, and making it so when it is not.

The second-order-cone relaxation replaces ``P² + Q² = u l`` by ``<=``. A solution
with slack in that cone has losses (``l``) that no power flow produces, so its
setpoints would not replay as planned. These functions measure that slack where it
matters, and close it with the penalty convex-concave procedure.
"""

from __future__ import annotations

import logging
import time
import warnings

import cvxpy as cp
import numpy as np

from powergrid.optimization.model import Model
from powergrid.optimization.solvers import (
    SOLVED,
    SolverOptions,
    SolveStats,
    solve_kwargs,
    solver_seconds,
)

log = logging.getLogger(__name__)

#: the relaxation counts as exact at most this much excess loss (MW, largest hourly sum)
#: and |V|² error (pu², largest branch)
CCP_LOSS_TOL = 1e-4
CCP_DV_TOL = 1e-5
#: penalty convex-concave procedure: initial weight of sigma ($ per pu² of current² per
#: hour), its growth per iteration and cap, iteration limit
CCP_TAU0 = 10.0
CCP_TAU_GROWTH = 4.0
CCP_TAU_MAX = 1e6
CCP_MAX_ITER = 12
#: floor of the scale that normalises the cone gap (pu²)
GAP_FLOOR = 1e-9


def gap_measures(model: Model) -> tuple[float, float]:
    """(excess losses MW, voltage error pu²) of the relaxation at the current point.

    ``l - (P²+Q²)/u`` is weighted by ``r`` (losses that exist only in the relaxation,
    largest hourly sum) and by ``r² + x²`` (its effect on the next bus's ``|V|²``,
    largest branch). Weighting by impedance ignores the meaningless slack of the
    near-ideal regulators and switches, whose ``l`` barely enters any equation.
    """
    P, Q, L = model.P.value, model.Q.value, model.L.value
    U = np.maximum(np.asarray(model.U.value), 1e-6)
    dl = np.maximum(L - (P ** 2 + Q ** 2) / U, 0.0)
    return (float((model.r * dl).sum(axis=1).max()),
            float(((model.r ** 2 + model.x ** 2) * dl).max()))


def is_exact(model: Model) -> bool:
    """The current point satisfies the exact DistFlow equations (within the tolerances)."""
    exl, dv = gap_measures(model)
    return exl <= CCP_LOSS_TOL and dv <= CCP_DV_TOL


def soc_gap(model: Model) -> dict[str, float]:
    """How far the cone is from equality at the solution: ``u*l - (P² + Q²)``.

    ``max_abs`` is in pu² (MVA² on the net's base). ``max_rel`` normalises it by the
    largest ``u*l`` of the day, the network's scale; a per-branch ratio would be 0/0
    noise on idle branches. The impedance-weighted measures (the physically
    meaningful part, see :func:`gap_measures`) are ``excess_loss_MW`` and ``dv_pu2``.
    """
    P, Q, L = model.P.value, model.Q.value, model.L.value
    if P is None:
        return {"max_abs": float("nan"), "max_rel": float("nan"),
                "excess_loss_MW": float("nan"), "dv_pu2": float("nan")}
    ul = np.asarray(model.U.value) * L
    gap = np.maximum(ul - (P ** 2 + Q ** 2), 0.0)
    scale = max(float(ul.max()), GAP_FLOOR)
    exl, dv = gap_measures(model)
    return {"max_abs": float(gap.max()), "max_rel": float(gap.max()) / scale,
            "excess_loss_MW": exl, "dv_pu2": dv}


def ccp(model: Model, solver: str, stats: SolveStats, *, max_iter: int = CCP_MAX_ITER,
        tau0: float | None = None, status: str = cp.OPTIMAL,
        solver_options: SolverOptions | None = None) -> str:
    """Tighten an inexact relaxation with the penalty convex-concave procedure.

    ``solver_options``: settings by solver name, merged into
    :data:`.solvers.DEFAULT_SOLVER_OPTIONS` (:func:`.solvers.resolve_solver_options`).

    Why: the relaxation is exact only while every microgrid pays for losses it
    could inflate. The DSO's feeder losses are nobody's cost, and where an
    over- or under-voltage limit binds, the relaxed optimum "spends" fictitious
    losses on the feeder to move voltages. No power flow can reproduce that
    optimum. Each iteration adds ``l <= lin(P, Q, u) + sigma``, where ``lin`` is the
    tangent of the convex ``(P²+Q²)/u`` at the last solution (so ``lin <= (P²+Q²)/u``),
    and penalises ``sigma`` with a growing weight. At ``sigma = 0`` the cone is tight
    and the point satisfies the exact DistFlow equations. The result is a local
    optimum of the exact (non-convex) model. The relaxed objective, kept in
    ``stats.relaxed_objective``, bounds the global one from below.
    """
    tau = tau0 or CCP_TAU0
    for k in range(max_iter):
        if is_exact(model):
            stats.converged = True
            stats.status = status
            return status
        P, Q = model.P.value, model.Q.value
        U = np.maximum(np.asarray(model.U.value), 1e-6)
        f = (P ** 2 + Q ** 2) / U
        sigma = cp.Variable(P.shape, nonneg=True)
        lin = (cp.multiply(2 * P / U, model.P) + cp.multiply(2 * Q / U, model.Q)
               - cp.multiply(f / U, model.U))
        prob = cp.Problem(cp.Minimize(model.objective + tau * cp.sum(sigma)),
                          [*model.constraints, model.L <= lin + sigma])
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                prob.solve(solver=solver, verbose=False, **solve_kwargs(solver, solver_options))
        except cp.error.SolverError as exc:
            log.warning("CCP iteration %d: solver %s failed: %s", k, solver, exc)
            status = "solver_error"
            break
        finally:
            stats.seconds += time.perf_counter() - t0
            stats.iterations += 1
        stats.solver_s += solver_seconds(prob)
        status = str(prob.status)
        if status not in SOLVED:
            break
        tau = min(tau * CCP_TAU_GROWTH, CCP_TAU_MAX)
        stats.tau = tau
    stats.converged = model.P.value is not None and is_exact(model)
    stats.status = status
    return status
