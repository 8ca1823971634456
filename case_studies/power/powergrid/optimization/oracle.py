"""Perfect-forecast, multi-period optimal dispatch ("oracle") of a setup for one day.

Why an oracle: RL and rule-based controllers are only meaningful against the best
achievable cost. With the whole day's loads, prices and renewable availability
known in advance, a convex optimal power flow over the 24 hours gives that bound
(up to the relaxation, which is checked and reported).

Model (one convex program over the horizon, solved by Clarabel through cvxpy):

* Network: DistFlow branch-flow model with the second-order-cone relaxation on the
  radial net of the environment (see :mod:`.network`): per branch ``P, Q, l``, per
  bus ``w = |V|²``; lines and transformers in per unit with the off-nominal tap
  ratio in the voltage-drop equation, line charging and bus shunts included.
* Transformer taps are *fixed* per hour. By default (``taps="replay"``) they start
  at the positions the environment's regulators hold after ``reset`` for the day,
  the dispatch is solved, replayed through the environment, and re-solved with the
  tap positions the regulators actually settled to each hour, until those agree
  (at most ``tap_rounds`` solves). ``taps="initial"`` keeps the post-reset
  positions for the whole day; an array gives them explicitly ``(T, n_trafo)``.
  RL-controlled transformers (``Transformer`` devices) are held at ``init_tap``.
* Limits: ``|V|²`` in ``[v_min², v_max²]`` at every bus of every microgrid (the
  buses whose voltages the environment scores; ``voltage_buses="all"`` adds the
  DSO feeder), ``l <= I_max²`` on every rated line. Both are hard; if the hard
  problem is infeasible it is re-solved with penalised slacks and the violated
  constraints are named (``OracleResult.violations``).
* Devices, exactly as the environment prices them: generators ``a P² + b P + c`` with
  P/Q limits and the capability circle ``P² + Q² <= S²``; batteries with separate
  ``p_ch, p_dis >= 0``, efficiencies, SOC limits and throughput degradation cost;
  renewables up to the available power, curtailment priced per MWh; the terminal
  SOC is free because the environment's cost does not value stored energy.
* Objective: the sum over microgrids of the environment's ``agent.cost``: device
  costs plus ``price x import`` at each microgrid's metering point (the PCC
  transformer's HV side, as ``PowerGridAgent._import_mw``); export is credited at
  ``sell_price_ratio x price``. The DSO's feeder-head import is nobody's cost.

``integer=True`` adds one binary per battery and hour forbidding simultaneous
charge and discharge; that needs a mixed-integer SOCP solver (SCIP via PySCIPOpt).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
from scipy import sparse

from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.scenario import (
    DayScenario,
    DeviceSpec,
    UnsupportedSetupError,
    make_env,
    scenario_from_env,
)

log = logging.getLogger(__name__)

#: $ per hour per unit of slack: voltage slack is in pu² of |V|², line slack in
#: fractions of I_max². Large enough to be an exact penalty for this problem's
#: duals (hundreds of $/pu²), small enough to keep Clarabel well conditioned.
VOLTAGE_PENALTY = 1e5
LINE_PENALTY = 1e4
#: slack above this counts as a violated constraint
SLACK_TOL = 1e-6
#: branches carrying less than this u*l (pu²) are ignored by the relative SOC gap
GAP_FLOOR = 1e-8

MISOCP_SOLVERS = ("SCIP", "GUROBI", "MOSEK", "XPRESS", "CPLEX")


class SolverUnavailableError(RuntimeError):
    """The requested problem class needs a solver that is not installed."""


@dataclass
class OracleResult:
    """Solution of one day: setpoints in environment units, costs, diagnostics.

    ``setpoints[agent][device]`` holds arrays over the horizon: ``p_MW`` and
    ``q_MVAr`` (grid side, generator convention) for every device, plus ``p_ch_MW``,
    ``p_dis_MW`` and ``soc`` (``T + 1`` values, start included) for batteries,
    ``p_avail_MW`` for renewables and ``tap`` for transformers.
    """

    config: dict[str, Any]
    day: int
    split: str
    horizon: int
    dt: float
    status: str  # "optimal" | "infeasible" | "solver_error"
    feasible: bool
    objective: float  # environment cost ($), penalties excluded
    penalty: float  # slack penalty ($) of the soft re-solve, 0 when feasible
    cost_by_agent: dict[str, np.ndarray]  # (T,) $ per hour, env definition
    import_MW: dict[str, np.ndarray]
    price: np.ndarray
    setpoints: dict[str, dict[str, dict[str, np.ndarray]]]
    vm_pu: np.ndarray  # (T, len(net.bus)) in net.bus order, NaN where de-energised
    line_loading_pct: np.ndarray  # (T, len(net.line)) series current / rating
    taps: np.ndarray  # (T, n_trafo) tap positions the model used
    solve_time_s: float
    build_time_s: float
    solver: str
    solver_status: str
    soc_gap: dict[str, float]
    violations: list[str] = field(default_factory=list)
    tap_rounds: int = 1
    tap_mismatch_hours: int = 0
    max_simultaneous_MW: float = 0.0
    bus_names: list[str] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        return float(sum(v.sum() for v in self.cost_by_agent.values()))

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day, "status": self.status, "objective": self.objective,
            "solve_time_s": self.solve_time_s, "build_time_s": self.build_time_s,
            "soc_gap_rel": self.soc_gap.get("max_rel", float("nan")),
            "soc_gap_abs": self.soc_gap.get("max_abs", float("nan")),
            "tap_rounds": self.tap_rounds, "violations": len(self.violations),
        }

    def to_policies(self, env: Any) -> dict[str, Any]:
        """One :class:`~powergrid.optimization.policy.OraclePolicy` per agent of ``env``."""
        from powergrid.optimization.policy import oracle_policies

        return oracle_policies(self, env)


# ======================================================================== model
@dataclass
class _Model:
    problem: cp.Problem
    cost_expr: cp.Expression
    penalty_expr: cp.Expression | None
    agent_cost: dict[str, cp.Expression]
    imports: dict[str, cp.Expression]
    P: cp.Variable
    Q: cp.Variable
    L: cp.Variable
    W: cp.Variable
    U: cp.Expression
    dev_p: dict[tuple[str, str], cp.Expression]
    dev_q: dict[tuple[str, str], cp.Expression]
    ess: dict[tuple[str, str], tuple[cp.Variable, cp.Variable, cp.Variable]]
    slacks: dict[str, tuple[cp.Variable, np.ndarray]]
    binaries: list[cp.Variable]
    r: np.ndarray
    x: np.ndarray
    ccp_problem: cp.Problem
    ccp_params: tuple[cp.Parameter, cp.Parameter, cp.Parameter, cp.Parameter]
    sigma: cp.Variable


def _grid_cost(imp: cp.Expression, price: np.ndarray, ratio: float, dt: float,
               who: str) -> cp.Expression:
    """Environment settlement ``price x import`` (export at ``ratio x price``), convex form.

    ``max(price*p, ratio*price*p)`` equals the settlement exactly when it is convex,
    i.e. ``price * (1 - ratio) >= 0``; otherwise selling and buying at once would pay
    and the oracle refuses rather than report a wrong bound.
    """
    if ratio == 1.0:
        return dt * (price @ imp)
    if np.any(price * (1.0 - ratio) < 0):
        raise UnsupportedSetupError(
            f"{who}: sell_price_ratio {ratio} with prices of both signs makes the settlement "
            "non-convex; the oracle supports ratio <= 1 with prices >= 0 (or >= 1 with <= 0).")
    return dt * cp.sum(cp.maximum(cp.multiply(price, imp), ratio * cp.multiply(price, imp)))


def _build(sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, *, soft: bool,
           integer: bool, voltage_buses: str) -> _Model:
    net = sc.net
    T, dt = sc.horizon, sc.dt
    nE, nB = rn.n_branch, rn.n_bus
    S, C = rn.incidence()
    ST, CT = S.T.tocsr(), C.T.tocsr()
    par = [rn.params(taps[t]) for t in range(T)]
    r = np.stack([p.r for p in par])
    x = np.stack([p.x for p in par])
    g = np.stack([p.g for p in par])
    b = np.stack([p.b for p in par])
    a_s = np.stack([p.a_s for p in par])
    a_c = np.stack([p.a_c for p in par])

    P = cp.Variable((T, nE), name="P")
    Q = cp.Variable((T, nE), name="Q")
    L = cp.Variable((T, nE), nonneg=True, name="l")
    W = cp.Variable((T, nB), nonneg=True, name="w")
    Ws = W @ ST  # (T, nE) |V|² at sending buses
    Wc = W @ CT
    U = cp.multiply(a_s, Ws)  # |V|² behind the tap at the sending end
    Wcr = cp.multiply(a_c, Wc)
    cons: list[cp.Constraint] = [W[:, rn.root] == rn.root_vm ** 2]
    # SOC relaxation of P² + Q² = u l:  ||(2P, 2Q, l - u)|| <= l + u
    cons.append(cp.SOC(cp.vec(L + U, order="C"),
                       cp.vstack([cp.vec(2 * P, order="C"), cp.vec(2 * Q, order="C"),
                                  cp.vec(L - U, order="C")]), axis=0))
    cons.append(Wcr == U - 2 * (cp.multiply(r, P) + cp.multiply(x, Q))
                + cp.multiply(r ** 2 + x ** 2, L))

    # --- injections -----------------------------------------------------------------
    load = net.load
    lw = (load.scaling.to_numpy(float) if "scaling" in load else np.ones(len(load)))
    lw = lw * load.in_service.to_numpy(bool)
    Mload = rn.bus_map(load.bus.to_numpy(), lw)  # (n_load, nB)
    load_p = sparse.csr_matrix(sc.load_p) @ Mload / rn.base_mva
    load_q = sparse.csr_matrix(sc.load_q) @ Mload / rn.base_mva
    load_p = np.asarray(load_p.todense())
    load_q = np.asarray(load_q.todense())

    devs = [d for d in sc.devices if d.kind != "transformer"]
    nD = len(devs)
    Pg = cp.Variable((T, nD), name="p_dev") if nD else None
    Qg = cp.Variable((T, nD), name="q_dev") if nD else None
    Mdev = rn.bus_map(np.asarray([d.pp_bus for d in devs], dtype=np.int64),
                      np.asarray([d.scaling for d in devs]))
    root_row = sparse.csr_matrix(([1.0], ([0], [rn.root])), shape=(1, nB))
    P0 = cp.Variable((T, 1), name="p_root")
    Q0 = cp.Variable((T, 1), name="q_root")
    inj_p = -load_p - cp.multiply(np.tile(rn.gs, (T, 1)), W) + P0 @ root_row
    inj_q = -load_q + cp.multiply(np.tile(rn.bs, (T, 1)), W) + Q0 @ root_row
    if nD:
        inj_p = inj_p + Pg @ Mdev / rn.base_mva
        inj_q = inj_q + Qg @ Mdev / rn.base_mva
    sent_p = P + cp.multiply(g / 2, U)
    sent_q = Q - cp.multiply(b / 2, U)
    recv_p = P - cp.multiply(r, L) - cp.multiply(g / 2, Wcr)
    recv_q = Q - cp.multiply(x, L) + cp.multiply(b / 2, Wcr)
    cons.append(inj_p == sent_p @ S - recv_p @ C)
    cons.append(inj_q == sent_q @ S - recv_q @ C)

    # --- limits (hard, or soft with slacks) ---------------------------------------------
    slacks: dict[str, tuple[cp.Variable, np.ndarray]] = {}
    penalty = 0
    vlo = np.full(nB, np.nan)
    vhi = np.full(nB, np.nan)
    for ag in sc.agents:
        for pb in ag.pp_buses:
            m = rn.bus_of_pp.get(int(pb))
            if m is not None:
                lo, hi = ag.v_limits
                vlo[m] = lo if np.isnan(vlo[m]) else max(vlo[m], lo)
                vhi[m] = hi if np.isnan(vhi[m]) else min(vhi[m], hi)
    if voltage_buses == "all":
        from powergrid.utils.safety import V_MAX_PU, V_MIN_PU

        vlo = np.where(np.isnan(vlo), V_MIN_PU, vlo)
        vhi = np.where(np.isnan(vhi), V_MAX_PU, vhi)
    elif voltage_buses != "microgrids":
        raise ValueError("voltage_buses must be 'microgrids' or 'all'.")
    vlo[rn.root] = vhi[rn.root] = np.nan  # the slack's voltage is given
    vb = np.flatnonzero(~np.isnan(vlo))
    rated = np.flatnonzero(np.isfinite(rn.imax_pu))
    if vb.size:
        lo2 = np.tile(vlo[vb] ** 2, (T, 1))
        hi2 = np.tile(vhi[vb] ** 2, (T, 1))
        if soft:
            s_lo = cp.Variable((T, vb.size), nonneg=True, name="slack_vmin")
            s_hi = cp.Variable((T, vb.size), nonneg=True, name="slack_vmax")
            cons += [W[:, vb] >= lo2 - s_lo, W[:, vb] <= hi2 + s_hi]
            slacks["v_min"] = (s_lo, vb)
            slacks["v_max"] = (s_hi, vb)
            penalty = penalty + VOLTAGE_PENALTY * (cp.sum(s_lo) + cp.sum(s_hi))
        else:
            cons += [W[:, vb] >= lo2, W[:, vb] <= hi2]
    if rated.size:
        i2 = np.tile(rn.imax_pu[rated] ** 2, (T, 1))
        if soft:
            s_l = cp.Variable((T, rated.size), nonneg=True, name="slack_line")
            cons.append(L[:, rated] <= cp.multiply(i2, 1 + s_l))
            slacks["line"] = (s_l, rated)
            penalty = penalty + LINE_PENALTY * cp.sum(s_l)
        else:
            cons.append(L[:, rated] <= i2)

    # --- devices --------------------------------------------------------------------------
    dev_p: dict[tuple[str, str], cp.Expression] = {}
    dev_q: dict[tuple[str, str], cp.Expression] = {}
    ess_vars: dict[tuple[str, str], tuple[cp.Variable, cp.Variable, cp.Variable]] = {}
    binaries: list[cp.Variable] = []
    dev_cost: dict[str, Any] = {ag.name: 0 for ag in sc.agents}
    for k, d in enumerate(devs):
        key = (d.agent, d.name)
        p, q = Pg[:, k], Qg[:, k]
        dev_p[key], dev_q[key] = p, q
        c = d.config
        if d.kind == "generator":
            on = np.ones(T, dtype=bool)
            on[: d.off_hours] = False
            pmin = np.where(on, c.p_min_MW, 0.0)
            pmax = np.where(on, c.p_max_MW, 0.0)
            qmin = np.where(on, c.q_min_MVAr, 0.0)
            qmax = np.where(on, c.q_max_MVAr, 0.0)
            cons += [p >= pmin, p <= pmax, q >= qmin, q <= qmax,
                     cp.SOC(np.full(T, float(c.s_rated_MVA)), cp.vstack([p, q]), axis=0)]
            a2, b1, c0 = (float(v) for v in c.cost_curve_coefs)
            dev_cost[d.agent] = dev_cost[d.agent] + dt * (
                a2 * cp.sum_squares(p) + b1 * cp.sum(p) + c0 * float(on.sum())) + d.startup_cost
        elif d.kind == "ess":
            p_ch = cp.Variable(T, nonneg=True, name=f"{d.agent}.{d.name}.p_ch")
            p_dis = cp.Variable(T, nonneg=True, name=f"{d.agent}.{d.name}.p_dis")
            e = cp.Variable(T + 1, name=f"{d.agent}.{d.name}.e")
            cap = float(c.e_capacity_MWh)
            cons += [p == p_dis - p_ch, p_ch <= -float(c.p_min_MW), p_dis <= float(c.p_max_MW),
                     e[0] == c.init_soc * cap,
                     e[1:] == e[:-1] + dt * (c.ch_eff * p_ch - p_dis / c.dsc_eff),
                     e[1:] >= c.soc_min * cap, e[1:] <= c.soc_max * cap]
            if c.q_max_MVAr > 0:
                cons += [cp.abs(q) <= float(c.q_max_MVAr)]
            else:
                cons += [q == 0]
            if integer:
                u = cp.Variable(T, boolean=True, name=f"{d.agent}.{d.name}.charging")
                binaries.append(u)
                cons += [p_ch <= -float(c.p_min_MW) * u, p_dis <= float(c.p_max_MW) * (1 - u)]
            ess_vars[key] = (p_ch, p_dis, e)
            dev_cost[d.agent] = dev_cost[d.agent] + dt * float(c.degradation_cost_per_MWh) * (
                cp.sum(p_ch) + cp.sum(p_dis))
        elif d.kind == "renewable":
            avail = sc.available[key]
            cons += [p >= 0, p <= avail]
            if c.pf_min < 1.0:
                tan_phi = float(np.tan(np.arccos(c.pf_min)))
                cons += [cp.abs(q) <= tan_phi * p]
            else:
                cons += [q == 0]
            dev_cost[d.agent] = dev_cost[d.agent] + dt * float(c.curtailment_cost_per_MWh) * (
                float(avail.sum()) - cp.sum(p))
        else:  # pragma: no cover - scenario_from_env rejects other kinds
            raise UnsupportedSetupError(f"device kind {d.kind!r}")

    # --- import metering and costs ----------------------------------------------------------
    branch_of_trafo = {int(rn.element[j]): j for j in range(nE) if rn.kind[j] == "trafo"}
    branch_of_line = {int(rn.element[j]): j for j in range(nE) if rn.kind[j] == "line"}
    imports: dict[str, cp.Expression] = {}
    agent_cost: dict[str, cp.Expression] = {}
    for ag in sc.agents:
        kind, idx = ag.import_meter
        if kind == "pcc_trafo":
            j = branch_of_trafo.get(idx)
            if j is None:
                imp = cp.Constant(np.zeros(T))  # de-energised PCC: no exchange
            elif rn.bus_of_pp.get(int(net.trafo.hv_bus.at[idx])) == rn.send[j]:
                imp = sent_p[:, j] * rn.base_mva
            else:
                imp = -recv_p[:, j] * rn.base_mva
        elif kind == "ext_grid":
            imp = P0[:, 0] * rn.base_mva
        else:  # the env's fallback: zone load - device output + losses of the zone's lines
            own_load = sc.load_p[:, ag.load_rows].sum(axis=1)
            gen = 0
            for d in ag.devices:
                if d.kind != "transformer":
                    gen = gen + dev_p[(d.agent, d.name)]
            loss = 0
            for ln in ag.pp_lines:
                j = branch_of_line.get(int(ln))
                if j is not None:
                    loss = loss + (sent_p[:, j] - recv_p[:, j]) * rn.base_mva
            imp = own_load - gen + loss
        imports[ag.name] = imp
        cost = dev_cost[ag.name]
        if ag.include_grid_cost:
            cost = cost + _grid_cost(imp, sc.price, ag.sell_price_ratio, dt, ag.name)
        agent_cost[ag.name] = cost
    cost_expr = sum(agent_cost.values())
    objective = cost_expr + penalty if soft else cost_expr
    problem = cp.Problem(cp.Minimize(objective), cons)
    # penalty convex-concave step: l <= linearisation of (P²+Q²)/u at the last point
    # (+ penalised sigma). The linearisation under-estimates the convex function, so
    # with sigma -> 0 the cone holds with equality (see _ccp).
    cP = cp.Parameter((T, nE), name="ccp_cP")
    cQ = cp.Parameter((T, nE), name="ccp_cQ")
    cU = cp.Parameter((T, nE), name="ccp_cU")
    tau = cp.Parameter(nonneg=True, name="ccp_tau")
    sigma = cp.Variable((T, nE), nonneg=True, name="ccp_sigma")
    ccp_con = L <= cp.multiply(cP, P) + cp.multiply(cQ, Q) - cp.multiply(cU, U) + sigma
    ccp_problem = cp.Problem(cp.Minimize(objective + tau * cp.sum(sigma)), [*cons, ccp_con])
    return _Model(problem=problem, cost_expr=cost_expr,
                  penalty_expr=penalty if soft else None, agent_cost=agent_cost,
                  imports=imports, P=P, Q=Q, L=L, W=W, U=U, dev_p=dev_p, dev_q=dev_q,
                  ess=ess_vars, slacks=slacks, binaries=binaries, r=r, x=x,
                  ccp_problem=ccp_problem, ccp_params=(cP, cQ, cU, tau), sigma=sigma)


# ======================================================================== solving
def _pick_solver(integer: bool) -> str:
    installed = set(cp.installed_solvers())
    if not integer:
        if "CLARABEL" not in installed:
            raise SolverUnavailableError("Clarabel is not installed: pip install 'clarabel>=0.7'.")
        return "CLARABEL"
    for name in MISOCP_SOLVERS:
        if name in installed:
            return name
    raise SolverUnavailableError(
        "integer=True needs a mixed-integer second-order-cone solver; none is installed "
        f"(cvxpy sees {sorted(installed)}). HiGHS solves MILPs only and the DistFlow model "
        "has cones. Install SCIP with `pip install pyscipopt`, or use integer=False "
        "(the continuous model; simultaneous charge/discharge is reported as "
        "max_simultaneous_MW).")


def _solve(model: _Model, solver: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    try:
        model.problem.solve(solver=solver, verbose=False)
    except cp.error.SolverError as exc:
        log.warning("solver %s failed: %s", solver, exc)
        return "solver_error", time.perf_counter() - t0
    return str(model.problem.status), time.perf_counter() - t0


def _violations(model: _Model, sc: DayScenario, rn: RadialNetwork,
                top: int = 20) -> list[str]:
    """Named constraints whose slack is non-zero, largest first."""
    found: list[tuple[float, str]] = []
    names = {"v_min": "voltage lower limit", "v_max": "voltage upper limit",
             "line": "line current limit"}
    for key, (var, idx) in model.slacks.items():
        val = np.asarray(var.value)
        for t, col in zip(*np.nonzero(val > SLACK_TOL), strict=True):
            where = (rn.bus_name(int(idx[col]), sc.net) if key != "line"
                     else rn.branch_name(int(idx[col]), sc.net))
            unit = "pu² of |V|²" if key != "line" else "x I_max²"
            found.append((float(val[t, col]),
                          f"{names[key]} at {where}, hour {t} (slack {val[t, col]:.3g} {unit})"))
    found.sort(key=lambda z: -z[0])
    out = [s for _, s in found[:top]]
    if len(found) > top:
        out.append(f"... and {len(found) - top} more")
    return out


def _soc_gap(model: _Model) -> dict[str, float]:
    """How far the relaxed cone is from equality: u*l - (P² + Q²).

    ``max_abs`` in pu² (MVA² on the 1 MVA base), ``max_rel`` relative to ``u*l``
    among branches carrying more than GAP_FLOOR, and ``excess_loss_MW``: the largest
    hourly sum over branches of r*(l - (P²+Q²)/u), i.e. losses that exist only in
    the relaxation.
    """
    P, Q, L = model.P.value, model.Q.value, model.L.value
    U = np.asarray(model.U.value)
    if P is None:
        return {"max_abs": float("nan"), "max_rel": float("nan"), "excess_loss_MW": float("nan")}
    ul = U * L
    gap = ul - (P ** 2 + Q ** 2)
    big = ul > GAP_FLOOR
    rel = float(np.max(gap[big] / ul[big])) if big.any() else 0.0
    return {"max_abs": float(np.max(np.abs(gap))), "max_rel": max(rel, 0.0)}


def _extract(model: _Model, sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, *,
             status: str, feasible: bool, solve_s: float, build_s: float, solver: str,
             solver_status: str, violations: list[str]) -> OracleResult:
    T = sc.horizon
    net = sc.net
    ok = model.P.value is not None
    setpoints: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    max_sim = 0.0
    for ag in sc.agents:
        setpoints[ag.name] = {}
        for d in ag.devices:
            key = (d.agent, d.name)
            rec: dict[str, np.ndarray] = {}
            if d.kind == "transformer":
                rec["tap"] = np.full(T, float(d.config.init_tap))
                rec["p_MW"] = np.zeros(T)
                rec["q_MVAr"] = np.zeros(T)
            else:
                rec["p_MW"] = _val(model.dev_p[key], T, ok)
                rec["q_MVAr"] = _val(model.dev_q[key], T, ok)
            if d.kind == "ess":
                p_ch, p_dis, e = model.ess[key]
                rec["p_ch_MW"] = _val(p_ch, T, ok)
                rec["p_dis_MW"] = _val(p_dis, T, ok)
                rec["soc"] = _val(e, T + 1, ok) / float(d.config.e_capacity_MWh)
                max_sim = max(max_sim, float(np.max(np.minimum(rec["p_ch_MW"], rec["p_dis_MW"]))))
            if d.kind == "renewable":
                rec["p_avail_MW"] = sc.available[key].copy()
            setpoints[ag.name][d.name] = rec
    vm = np.full((T, len(net.bus)), np.nan)
    loading = np.zeros((T, len(net.line)))
    if ok:
        w = np.sqrt(np.maximum(model.W.value, 0.0))
        pos = {int(b): i for i, b in enumerate(net.bus.index)}
        for pb, m in rn.bus_of_pp.items():
            vm[:, pos[pb]] = w[:, m]
        lpos = {int(b): i for i, b in enumerate(net.line.index)}
        cur = np.sqrt(np.maximum(model.L.value, 0.0))
        for j in range(rn.n_branch):
            if rn.kind[j] == "line" and np.isfinite(rn.imax_pu[j]):
                loading[:, lpos[int(rn.element[j])]] = 100.0 * cur[:, j] / rn.imax_pu[j]
    cost_by_agent = {}
    imports = {}
    for ag in sc.agents:
        cost_by_agent[ag.name] = _hourly_cost(model, sc, ag, setpoints[ag.name], ok)
        imports[ag.name] = _val(model.imports[ag.name], T, ok)
    objective = float(model.cost_expr.value) if ok else float("nan")
    penalty = float(model.penalty_expr.value) if (ok and model.penalty_expr is not None
                                                   and not isinstance(model.penalty_expr, int)) \
        else 0.0
    return OracleResult(
        config=sc.config, day=sc.day, split=sc.split, horizon=T, dt=sc.dt, status=status,
        feasible=feasible, objective=objective, penalty=penalty, cost_by_agent=cost_by_agent,
        import_MW=imports, price=sc.price.copy(), setpoints=setpoints, vm_pu=vm,
        line_loading_pct=loading, taps=np.asarray(taps, dtype=float).copy(),
        solve_time_s=solve_s, build_time_s=build_s, solver=solver, solver_status=solver_status,
        soc_gap=_soc_gap(model) if ok else {"max_abs": float("nan"), "max_rel": float("nan")},
        violations=violations, max_simultaneous_MW=max_sim,
        bus_names=net.bus.name.astype(str).tolist())


def _val(expr: Any, n: int, ok: bool) -> np.ndarray:
    if not ok or expr.value is None:
        return np.full(n, np.nan)
    return np.asarray(expr.value, dtype=float).reshape(-1).copy()


def _hourly_cost(model: _Model, sc: DayScenario, ag: Any, sp: dict, ok: bool) -> np.ndarray:
    """The environment's per-hour ``agent.cost`` evaluated at the solution."""
    from powergrid.utils.cost import (
        curtailment_cost,
        energy_cost,
        quadratic_cost,
        storage_degradation_cost,
    )

    T, dt = sc.horizon, sc.dt
    if not ok:
        return np.full(T, np.nan)
    imp = _val(model.imports[ag.name], T, ok)
    out = np.zeros(T)
    for t in range(T):
        c = 0.0
        for d in ag.devices:
            rec = sp[d.name]
            if d.kind == "generator":
                a2, b1, c0 = (float(v) for v in d.config.cost_curve_coefs)
                on = t >= d.off_hours
                c += quadratic_cost(rec["p_MW"][t], a2, b1, c0 if on else 0.0, dt)
                if d.off_hours and t == d.off_hours:
                    c += d.startup_cost
            elif d.kind == "ess":
                c += storage_degradation_cost(rec["p_MW"][t], dt,
                                              d.config.degradation_cost_per_MWh)
            elif d.kind == "renewable":
                c += curtailment_cost(rec["p_avail_MW"][t], rec["p_MW"][t],
                                      d.config.curtailment_cost_per_MWh, dt)
        if ag.include_grid_cost:
            c += energy_cost(imp[t], sc.price[t], dt, ag.sell_price_ratio)
        out[t] = c
    return out


# ======================================================================== public API
def solve_scenario(sc: DayScenario, *, integer: bool = False, taps: Any = "initial",
                   soft: bool = False, voltage_buses: str = "microgrids",
                   network: RadialNetwork | None = None) -> OracleResult:
    """Solve one prepared :class:`DayScenario` with fixed taps (no replay loop)."""
    solver = _pick_solver(integer)
    rn = network or RadialNetwork.from_net(sc.net)
    T = sc.horizon
    if isinstance(taps, str):
        if taps not in ("initial", "replay"):
            raise ValueError("taps must be 'replay', 'initial' or an array (T, n_trafo).")
        tap_arr = np.tile(sc.initial_taps, (T, 1))
    else:
        tap_arr = np.asarray(taps, dtype=float)
        if tap_arr.ndim == 1:
            tap_arr = np.tile(tap_arr, (T, 1))
        if tap_arr.shape != (T, len(sc.net.trafo)):
            raise ValueError(f"taps: expected shape ({T}, {len(sc.net.trafo)}), "
                             f"got {tap_arr.shape}.")
    t0 = time.perf_counter()
    model = _build(sc, rn, tap_arr, soft=soft, integer=integer, voltage_buses=voltage_buses)
    build_s = time.perf_counter() - t0
    status, solve_s = _solve(model, solver)
    violations: list[str] = []
    if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        feasible = True
        if soft:
            violations = _violations(model, sc, rn)
            feasible = not violations
        result_status = "optimal" if feasible else "infeasible"
        return _extract(model, sc, rn, tap_arr, status=result_status, feasible=feasible,
                        solve_s=solve_s, build_s=build_s, solver=solver, solver_status=status,
                        violations=violations)
    if soft:
        return _extract(model, sc, rn, tap_arr, status="solver_error", feasible=False,
                        solve_s=solve_s, build_s=build_s, solver=solver, solver_status=status,
                        violations=[])
    # hard model infeasible (or numerically stuck): name the culprits with slacks
    t1 = time.perf_counter()
    soft_model = _build(sc, rn, tap_arr, soft=True, integer=integer, voltage_buses=voltage_buses)
    build_s += time.perf_counter() - t1
    soft_status, soft_s = _solve(soft_model, solver)
    ok = soft_status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    violations = _violations(soft_model, sc, rn) if ok else []
    if ok and not violations:
        # the hard solve failed numerically although no limit has to be violated
        violations = [f"no limit violated at the penalised optimum; the hard problem was "
                      f"reported {status} by {solver} (numerical trouble)"]
    return _extract(soft_model, sc, rn, tap_arr, status="infeasible" if ok else "solver_error",
                    feasible=False, solve_s=solve_s + soft_s, build_s=build_s, solver=solver,
                    solver_status=f"{status} (hard) / {soft_status} (soft)",
                    violations=violations)


def solve_day(config: dict[str, Any], day: int, split: str = "test", horizon: int = 24,
              integer: bool = False, *, taps: Any = "replay", tap_rounds: int = 3,
              soft: bool = False, voltage_buses: str = "microgrids",
              env: Any = None) -> OracleResult:
    """Optimal dispatch of ``config`` for ``day`` of ``split`` (perfect forecast).

    Args:
        config: an ``env_config`` (e.g. ``load_setup("ieee34_ieee13")``); ``train`` and
            ``max_episode_steps`` are overridden by ``split`` and ``horizon``.
        day: day index within the split, as ``env.reset(options={"day": day})``.
        integer: forbid simultaneous battery charge/discharge with binaries (MISOCP).
        taps: "replay" (default, see module docstring), "initial" or an array.
        tap_rounds: maximum number of solves of the "replay" tap iteration.
        soft: always solve with penalised slacks (skips the hard solve).
        voltage_buses: "microgrids" (buses the env scores) or "all".
        env: an environment built from ``config`` for this split/horizon, to reuse.
    """
    env = env if env is not None else make_env(config, split, horizon)
    sc = scenario_from_env(env, day, horizon)
    rn = RadialNetwork.from_net(sc.net)
    result = solve_scenario(sc, integer=integer, taps=taps, soft=soft,
                            voltage_buses=voltage_buses, network=rn)
    if not (isinstance(taps, str) and taps == "replay") or result.status == "solver_error":
        return result
    from powergrid.optimization.replay import replay

    build, solve = result.build_time_s, result.solve_time_s
    current = result.taps
    for rounds in range(1, tap_rounds + 1):
        rep = replay(env, result)
        mismatch = int(np.any(rep.taps != current, axis=1).sum()) if rep.converged_all else 0
        result.tap_rounds = rounds
        result.tap_mismatch_hours = mismatch
        result.build_time_s, result.solve_time_s = build, solve
        if mismatch == 0 or rounds == tap_rounds:
            break
        current = rep.taps.astype(float)
        result = solve_scenario(sc, integer=integer, taps=current, soft=soft,
                                voltage_buses=voltage_buses, network=rn)
        build += result.build_time_s
        solve += result.solve_time_s
        if result.status == "solver_error":
            break
    result.build_time_s, result.solve_time_s = build, solve
    return result
