"""A DPP cvxpy problem compiled once and re-solved by calling Clarabel directly.

Why bypass ``Problem.solve`` for the MPC: on ``ieee34_ieee13``, cvxpy's per-solve
work around a reused compiled problem costs tens of milliseconds. It re-copies the
whole matrix into the solver (``update``), recovers every primal and dual value
through the reduction chain, and unpacks them. The MPC re-solves every hour against
a target of 100 ms per step, so that overhead matters. Here:

* the compiled parametrised program (cvxpy's ``param_prob``) is kept. Each solve
  applies the current parameter values to it (milliseconds, a sparse tensor
  product) with explicit zeros kept, so the matrix's sparsity pattern never changes;
* one Clarabel solver lives across solves. Only the vectors that changed (``q``,
  ``b``), and ``A``/``P`` values if parameters enter them, are updated in place,
  so the KKT system's symbolic factorisation is reused;
* the solution vector is written straight into the variables, through index maps
  probed once from cvxpy's own inverse reductions (:func:`_variable_indices`), so
  no mapping is re-implemented here.

Clarabel runs without iterative refinement (:data:`FAST_SETTINGS`). On this model
the refinement takes more than half of every iteration, and the solutions agree
with the refined ones to 1e-6 relative in the objective. A solve that does not end
"Solved" is retried once with Clarabel's defaults for refinement
(``CompiledProblem.retries`` counts them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import cvxpy as cp
import numpy as np
from scipy import sparse

#: Clarabel settings of the direct path: no presolve (data updates need it off), no
#: iterative refinement (module docstring); tolerances come from the caller
FAST_SETTINGS: dict[str, Any] = {"presolve_enable": False,
                                 "iterative_refinement_enable": False}
#: Clarabel statuses and what cvxpy calls them
_STATUS = {"Solved": cp.OPTIMAL, "AlmostSolved": cp.OPTIMAL_INACCURATE}


class CompileError(RuntimeError):
    """The problem cannot take the direct path; the message says why and what to use."""


@dataclass
class SolveReport:
    """One direct solve: cvxpy status, Clarabel's iterations, and where the time went."""

    status: str
    iterations: int
    solver_ms: float  # inside Clarabel's solve
    total_ms: float  # parameters applied + data updated + solve + values written
    retried: bool = False


class CompiledProblem:
    """``problem`` (DPP, a conic program with zero, nonnegative and second-order cones)
    ready to be re-solved by Clarabel after its Parameters change.

    Args:
        problem: the cvxpy problem; its Parameters need values at the first solve.
        settings: Clarabel settings (``clarabel.DefaultSettings`` attribute names),
            on top of :data:`FAST_SETTINGS`.
    """

    def __init__(self, problem: cp.Problem, settings: dict[str, Any] | None = None) -> None:
        import clarabel

        if not problem.is_dcp(dpp=True):
            raise CompileError("the problem is not DPP: every re-solve would recompile it. "
                               "Keep parameters out of products with each other.")
        self.problem = problem
        self._clarabel = clarabel
        self.settings = {**FAST_SETTINGS, **(settings or {})}
        for p in problem.parameters():
            if p.value is None:
                raise CompileError(f"parameter {p.name()!r} has no value: set every "
                                   "parameter before compiling (cvxpy needs them once).")
        data, chain, inverse = problem.get_problem_data(cp.CLARABEL, ignore_dpp=False,
                                                        solver_opts={})
        self._prog = data.get("param_prob")
        if self._prog is None:
            raise CompileError(f"cvxpy {cp.__version__} returned no 'param_prob' from "
                               "get_problem_data; use the MPC's backend='cvxpy'.")
        dims = data["dims"]
        if dims.exp or dims.psd or dims.p3d or getattr(dims, "pnd", None):
            raise CompileError("only zero, nonnegative and second-order cones take the "
                               "direct path; use backend='cvxpy'.")
        self._cones = ([clarabel.ZeroConeT(dims.zero)] if dims.zero else []) + (
            [clarabel.NonnegativeConeT(dims.nonneg)] if dims.nonneg else []) + [
            clarabel.SecondOrderConeT(int(k)) for k in dims.soc]
        self.n = int(data["A"].shape[1])
        self._index = _variable_indices(problem, chain, inverse, self.n)
        self._solver: Any = None
        self._pattern: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._last: dict[str, np.ndarray] = {}
        self.setups = 0  # Clarabel solvers built (1 unless the sparsity pattern changed)
        self.retries = 0
        self.offset = 0.0

    # ------------------------------------------------------------------ solving
    def _data(self) -> tuple[sparse.csc_matrix, np.ndarray, sparse.csc_matrix, np.ndarray]:
        P, c, d, A, b = self._prog.apply_parameters(quad_obj=True, keep_zeros=True)
        self.offset = float(d)
        P = sparse.csc_matrix(sparse.triu(P, format="csc"))
        A = sparse.csc_matrix(-A)  # cvxpy's A x + b in K, Clarabel's A x + s = b
        P.sort_indices()
        A.sort_indices()
        return P, np.asarray(c, dtype=float), A, np.asarray(b, dtype=float)

    def _settings(self, refine: bool) -> Any:
        s = self._clarabel.DefaultSettings()
        s.verbose = False
        for k, v in self.settings.items():
            setattr(s, k, v)
        if refine:
            s.iterative_refinement_enable = True
        return s

    def _load(self, P: Any, c: np.ndarray, A: Any, b: np.ndarray) -> None:
        """Put the data into the solver: in place when the pattern is the one it has."""
        pattern = (P.indptr, P.indices, A.indptr, A.indices)
        same = self._solver is not None and self._pattern is not None and all(
            np.array_equal(x, y) for x, y in zip(pattern, self._pattern, strict=True))
        if not same:
            self._solver = self._clarabel.DefaultSolver(P, c, A, b, self._cones,
                                                        self._settings(False))
            self._pattern = tuple(np.copy(x) for x in pattern)
            self.setups += 1
        else:
            changed: dict[str, Any] = {}
            for name, new in (("q", c), ("b", b), ("P", P.data), ("A", A.data)):
                if not np.array_equal(new, self._last[name]):
                    changed[name] = new
            if changed:
                self._solver.update(**changed)
        self._last = {"q": c.copy(), "b": b.copy(), "P": P.data.copy(), "A": A.data.copy()}

    def solve(self) -> SolveReport:
        """Solve with the Parameters' current values and write the variables' values.

        On failure (no usable solution) every variable's value is set to None, as cvxpy
        does, so that stale values are never read as a plan.
        """
        t0 = time.perf_counter()
        self._load(*self._data())
        sol = self._solver.solve()
        retried = False
        if str(sol.status) not in _STATUS:
            retried = True
            self.retries += 1
            self._solver.update(settings=self._settings(True))
            sol = self._solver.solve()
            self._solver.update(settings=self._settings(False))
        solver_ms = 1e3 * float(sol.solve_time)
        status = _STATUS.get(str(sol.status), cp.SOLVER_ERROR)
        x = np.asarray(sol.x, dtype=float) if status in _STATUS.values() else None
        for var, idx in self._index:
            if x is None:
                var.save_value(None)
            else:
                val = x[idx]
                var.save_value(var.project(val) if _has_attributes(var) else val)
        self.status = status
        self.value = (float(sol.obj_val) + self.offset) if x is not None else float("nan")
        return SolveReport(status=status, iterations=int(sol.iterations), solver_ms=solver_ms,
                           total_ms=1e3 * (time.perf_counter() - t0), retried=retried)


def _has_attributes(var: cp.Variable) -> bool:
    return any(bool(v) for k, v in var.attributes.items() if k in ("nonneg", "nonpos",
                                                                    "boolean", "integer"))


def _variable_indices(problem: cp.Problem, chain: Any, inverse: Any, n: int
                      ) -> list[tuple[cp.Variable, np.ndarray]]:
    """Where each variable of ``problem`` sits in the solver's vector ``x``.

    Probed with cvxpy's own inverse reductions: a fake solution ``x = 0, 1, 2, ...``
    goes back through the chain, and each variable's value then holds its indices.
    That is exact for variables the chain only reshapes and slices, which is all of
    them here. Anything else (a value that is not an index) is refused.
    """
    probe = SimpleNamespace(status="Solved", x=np.arange(n, dtype=float), z=None, s=None,
                            obj_val=0.0, solve_time=0.0, iterations=0)
    sol = chain.invert(probe, inverse)
    out = []
    for var in problem.variables():
        val = sol.primal_vars.get(var.id)
        if val is None:
            raise CompileError(f"variable {var.name()!r} has no place in the solver's vector "
                               "(eliminated by cvxpy); use backend='cvxpy'.")
        arr = np.asarray(val, dtype=float)
        idx = np.rint(arr).astype(np.int64)
        if not np.array_equal(idx, arr) or idx.min() < 0 or idx.max() >= n:
            raise CompileError(f"variable {var.name()!r} is transformed by cvxpy's reductions, "
                               "not copied; use backend='cvxpy'.")
        out.append((var, idx.reshape(var.shape)))
    return out
