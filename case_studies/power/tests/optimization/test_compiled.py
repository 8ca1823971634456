"""CompiledProblem on small problems: the same answers as cvxpy, one solver reused,
failures reported as failures."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from powergrid.optimization.compiled import CompiledProblem, CompileError


def _socp() -> tuple[cp.Problem, cp.Parameter, cp.Parameter, cp.Variable, cp.Variable]:
    x = cp.Variable(3, name="x")
    y = cp.Variable(2, nonneg=True, name="y")
    c = cp.Parameter(3, name="c")
    b = cp.Parameter(name="b")
    prob = cp.Problem(cp.Minimize(c @ x + cp.sum(y) + cp.sum_squares(x)),
                      [cp.SOC(b + y[0], x), y[1] >= x[0] - 1, cp.sum(x) == 1])
    return prob, c, b, x, y


def test_same_solution_as_cvxpy_and_one_solver_reused():
    prob, c, b, x, y = _socp()
    c.value, b.value = np.array([1.0, -2.0, 0.5]), 2.0
    comp = CompiledProblem(prob)
    for values in ([1.0, -2.0, 0.5], [-3.0, 1.0, 4.0], [0.0, 0.0, 0.0]):
        c.value = np.array(values)
        rep = comp.solve()
        assert rep.status == cp.OPTIMAL and rep.iterations > 0
        ours = (x.value.copy(), y.value.copy(), comp.value)
        prob.solve(solver="CLARABEL")
        np.testing.assert_allclose(ours[0], x.value, atol=1e-6)
        np.testing.assert_allclose(ours[1], y.value, atol=1e-6)
        assert ours[2] == pytest.approx(prob.value, abs=1e-6)
    assert comp.setups == 1  # updated in place every time


def test_a_failed_solve_leaves_no_stale_values():
    prob, c, b, x, _ = _socp()
    c.value, b.value = np.array([1.0, -2.0, 0.5]), 2.0
    comp = CompiledProblem(prob, {"max_iter": 1})  # cannot converge in one iteration
    rep = comp.solve()
    assert rep.status == cp.SOLVER_ERROR
    assert rep.retried and comp.retries == 1  # retried with refinement, still failing
    assert x.value is None and np.isnan(comp.value)


def test_refusals_name_the_problem():
    x = cp.Variable(2)
    p = cp.Parameter(nonneg=True)
    q = cp.Parameter(nonneg=True)
    p.value = q.value = 1.0
    with pytest.raises(CompileError, match="DPP"):
        CompiledProblem(cp.Problem(cp.Minimize(p * q * cp.sum(x)), [x >= 0]))
    r = cp.Parameter(name="r")
    with pytest.raises(CompileError, match="'r' has no value"):
        CompiledProblem(cp.Problem(cp.Minimize(r * cp.sum(x)), [x >= 0, x <= 1]))
    with pytest.raises(CompileError, match="second-order"):
        CompiledProblem(cp.Problem(cp.Minimize(-cp.sum(cp.log(x))), [cp.sum(x) <= 1]))
