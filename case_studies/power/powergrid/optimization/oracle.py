"""Perfect-forecast, multi-period optimal dispatch ("oracle") of a setup for one day.

Why an oracle: RL and rule-based controllers are only meaningful against the best
achievable cost. With the whole day's loads, prices and renewable availability
known in advance, a convex optimal power flow over the 24 hours gives that
reference, and its setpoints can be replayed through the environment to check it.

Model (one convex program over the horizon, Clarabel through cvxpy):

* Network: DistFlow branch-flow model with the second-order-cone relaxation on the
  radial net of the environment (see :mod:`.network`): per branch ``P, Q, l``, per
  bus ``w = |V|²``; lines and transformers in per unit with the off-nominal tap
  ratio in the voltage-drop equation, line charging and bus shunts included.
* Taps (``taps="regulated"``, default): the environment's automatic step-voltage
  regulators (:mod:`powergrid.envs.regulators`) are modelled as ideal continuous
  regulators: their ratio is a variable within the tap range and their LV bus is
  held at ``v_set`` (a deviation is allowed, at a large penalty, only where the tap
  range cannot reach it). Every other transformer keeps the tap it has after the
  environment's reset for the day (RL ``Transformer`` devices: ``init_tap``).
  The env's real regulators are discrete and only move when their bus leaves
  ``v_set ± bandwidth/2``, so voltage limits get a margin of ``bandwidth/2`` by
  default. ``taps="initial"`` fixes every tap at its post-reset position instead;
  an array fixes them per hour.
* Limits: ``|V|²`` in ``[v_min², v_max²]`` at every bus of every microgrid (the
  buses whose voltages the environment scores; ``voltage_buses="all"`` adds the
  DSO feeder), ``l <= I_max²`` on every rated line. They are hard; if the hard
  problem is infeasible it is re-solved with penalised slacks (voltage, line
  current, shed load) and the violated constraints are named
  (``OracleResult.violations``).
* Devices, exactly as the environment prices them: generators ``a P² + b P + c`` with
  P/Q limits and the capability circle ``P² + Q² <= S²``; batteries with separate
  ``p_ch, p_dis >= 0``, efficiencies, SOC limits and throughput degradation cost;
  renewables up to the available power, curtailment priced per MWh. The terminal
  SOC is free because the environment's cost does not value stored energy.
* Objective: the sum over microgrids of the environment's ``agent.cost``: device
  costs plus ``price x import`` at each microgrid's metering point (the PCC
  transformer's HV side, as ``PowerGridAgent._import_mw``); export is credited at
  ``sell_price_ratio x price``. The DSO's feeder-head import is nobody's cost.

Making the relaxation replayable (see :func:`_solve_model`): because the DSO's
feeder losses cost no microgrid anything, the plain relaxation "spends" fictitious
feeder losses wherever a voltage limit binds, and its optimum cannot be reproduced
by a power flow. The solver therefore (1) solves the plain relaxation, whose
objective is kept as ``relaxed_objective`` (a lower bound for the model), (2) if
the cone is not tight, re-solves with a small share (``LOSS_WEIGHTS``) of the
priced feeder losses added to the objective, which makes it exact in practice at a
cost within about 1 % of the bound, (3) falls back to the penalty convex-concave
procedure if it still is not, and (4) fixes the direction of batteries that charge
and discharge at once (an energy-burning trick the environment's battery cannot
play). ``integer=True`` instead takes the battery directions from a mixed-integer
SOCP (SCIP via PySCIPOpt), which is much slower.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
from scipy import sparse

from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.scenario import (
    DayScenario,
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
#: $ per pu² (of |V|², per hour) that a regulated bus is away from the regulators' set
#: point; only paid where the tap range cannot reach it
REGULATOR_PENALTY = 1e6
#: branches below this impedance (pu) count as ideal; $ per pu² of squared current per
#: hour through them and through modelled regulators (a tie-breaker, see _build)
IDEAL_Z_PU = 1e-4
IDEAL_CURRENT_COST = 1e-2
#: $ per MWh of load shed in the penalised re-solve (a value of lost load)
SHED_PENALTY = 1e4
#: slack above this counts as a violated constraint
SLACK_TOL = 1e-6
#: floor of the scale that normalises the cone gap (pu²)
GAP_FLOOR = 1e-9

#: penalty convex-concave procedure (see _ccp): initial weight of sigma ($ per pu² of
#: current² per hour), its growth per iteration and cap, iteration limit, and when the
#: relaxation counts as exact (excess losses in MW, |V|² error in pu²)
CCP_TAU0 = 10.0
CCP_TAU_GROWTH = 4.0
CCP_TAU_MAX = 1e6
CCP_MAX_ITER = 12
CCP_LOSS_TOL = 1e-4
CCP_DV_TOL = 1e-5

#: battery charge and discharge both above this (MW) count as simultaneous
ESS_TOL = 1e-4
ESS_FIX_ROUNDS = 3

#: solver settings. Clarabel: defaults (1e-8) are tighter than the data (hourly
#: profiles, MW to three decimals) deserve. SCIP (MISOCP, integer=True): a time
#: limit and a 0.1 % gap, as its branch-and-bound over 24 h of second-order cones can
#: otherwise run for a very long time (change SOLVER_OPTIONS["SCIP"], not the constant)
MISOCP_TIME_LIMIT_S = 120.0
SOLVER_OPTIONS: dict[str, dict[str, Any]] = {
    "CLARABEL": {"tol_gap_abs": 1e-6, "tol_gap_rel": 1e-6, "tol_feas": 1e-7},
    "SCIP": {"scip_params": {"limits/time": MISOCP_TIME_LIMIT_S, "limits/gap": 1e-3}},
}

#: shares of the priced feeder losses tried, in turn, to make the relaxation exact
#: (see _solve_model); small enough that the dispatch stays within about 1 % of the
#: relaxed bound on the shipped setups
LOSS_WEIGHTS = (0.1, 0.3, 1.0)

MISOCP_SOLVERS = ("SCIP", "GUROBI", "MOSEK", "XPRESS", "CPLEX")
CONTINUOUS_SOLVER = "CLARABEL"


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
    max_simultaneous_MW: float = 0.0
    bus_names: list[str] = field(default_factory=list)
    #: objective of the plain SOC relaxation: a lower bound for this model (its taps,
    #: regulator set points and voltage margin), so ``objective - relaxed_objective``
    #: bounds how far the reported dispatch can be from the model's optimum
    relaxed_objective: float = float("nan")
    ccp_iterations: int = 0
    #: share of the priced feeder losses added to make the relaxation exact (0: none)
    loss_weight: float = 0.0
    #: part of solve_time_s spent inside the solver (the rest: cvxpy compiling)
    solver_time_s: float = 0.0
    #: the cone holds with equality where it matters (excess losses <= CCP_LOSS_TOL MW,
    #: |V|² error <= CCP_DV_TOL): the setpoints satisfy the exact DistFlow equations
    exact: bool = True

    @property
    def total_cost(self) -> float:
        return float(sum(v.sum() for v in self.cost_by_agent.values()))

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day, "status": self.status, "objective": self.objective,
            "solve_time_s": self.solve_time_s, "build_time_s": self.build_time_s,
            "soc_gap_rel": self.soc_gap.get("max_rel", float("nan")),
            "soc_gap_abs": self.soc_gap.get("max_abs", float("nan")),
            "relaxed_objective": self.relaxed_objective, "exact": self.exact,
            "violations": len(self.violations),
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
    objective: cp.Expression
    constraints: list[cp.Constraint]
    regulators: list[_Regulator]
    Ureg: cp.Variable | None
    feeder_loss: cp.Expression | None


def _grid_cost(imp: cp.Expression, price: np.ndarray, ratio: float, dt: float,
               who: str) -> cp.Expression:
    """Environment settlement ``price x import`` (export at ``ratio x price``), convex form.

    ``max(price*p, ratio*price*p)`` equals the settlement exactly when it is convex,
    i.e. ``price * (1 - ratio) >= 0``; otherwise selling and buying at once would pay
    and the oracle refuses rather than report a wrong bound.
    """
    if ratio == 1.0:
        return dt * (price @ imp)
    if isinstance(price, cp.Expression):  # a Parameter: its values are checked when set
        return dt * cp.sum(cp.maximum(cp.multiply(price, imp), ratio * cp.multiply(price, imp)))
    if np.any(price * (1.0 - ratio) < 0):
        raise UnsupportedSetupError(
            f"{who}: sell_price_ratio {ratio} with prices of both signs makes the settlement "
            "non-convex; the oracle supports ratio <= 1 with prices >= 0 (or >= 1 with <= 0).")
    return dt * cp.sum(cp.maximum(cp.multiply(price, imp), ratio * cp.multiply(price, imp)))


@dataclass
class _Regulator:
    trafo: int  # pandapower index
    branch: int  # model branch
    bus: int  # regulated (LV) model bus
    a_lo: float  # range of 1/tau² over the tap range
    a_hi: float
    a_nom: float  # 1/tau² at the neutral tap
    sign: float  # +1: 1/tau² grows with the tap (tap on the LV side), -1: shrinks
    step: float  # per unit per tap step
    neutral: float


def _regulators(sc: DayScenario, rn: RadialNetwork, taps: np.ndarray) -> list[_Regulator]:
    """Model data of the env's automatic regulators (ratio range, regulated bus).

    Only regulators whose tapped side faces the slack are modelled with a free ratio
    (all the feeders' regulators do); any other keeps its fixed tap.
    """
    net = sc.net
    branch_of_trafo = {int(rn.element[j]): j for j in range(rn.n_branch) if rn.kind[j] == "trafo"}
    regs = [(t, branch_of_trafo[t]) for t in sc.regulators if t in branch_of_trafo]
    regs = [(t, j) for t, j in regs if rn.from_is_send[j]]  # tap at the upstream end
    if not regs:
        return []
    pos = {int(i): k for k, i in enumerate(net.trafo.index)}
    lo_taps = np.asarray(taps[0], dtype=float).copy()
    hi_taps = lo_taps.copy()
    for t, _ in regs:
        lo_taps[pos[t]] = float(net.trafo.tap_min.at[t])
        hi_taps[pos[t]] = float(net.trafo.tap_max.at[t])
    a_min_tap, a_max_tap = rn.params(lo_taps).a_s, rn.params(hi_taps).a_s
    out = []
    for t, j in regs:
        tr = net.trafo.loc[t]
        step = float(tr.tap_step_percent) / 100.0
        neutral = float(tr.tap_neutral) if np.isfinite(tr.tap_neutral) else 0.0
        sign = 1.0 if str(tr.tap_side) == "lv" else -1.0
        a_nom = a_min_tap[j] / (1.0 + (float(tr.tap_min) - neutral) * step) ** (2 * sign)
        out.append(_Regulator(
            trafo=t, branch=j, bus=rn.bus_of_pp[int(tr.lv_bus)],
            a_lo=float(min(a_min_tap[j], a_max_tap[j])), a_hi=float(max(a_min_tap[j],
                                                                         a_max_tap[j])),
            a_nom=float(a_nom), sign=sign, step=step, neutral=neutral))
    return out


def _unpaid_branches(sc: DayScenario, rn: RadialNetwork) -> np.ndarray:
    """Branches whose losses appear in no microgrid's cost, as the env meters imports.

    PCC-transformer metering charges a microgrid every loss behind its PCC (its
    zone); an own ext_grid charges everything; the power-balance fallback only the
    zone's own lines (``PowerGridAgent._import_mw``), not its transformers.
    """
    paid = np.zeros(rn.n_branch, dtype=bool)
    line_rows = {int(e): j for j, (k, e) in enumerate(zip(rn.kind, rn.element, strict=True))
                 if k == "line"}
    for ag in sc.agents:
        kind, idx = ag.import_meter
        if kind == "ext_grid":
            paid[:] = True
        elif kind == "pcc_trafo":
            zone = {rn.bus_of_pp[int(b)] for b in ag.pp_buses if int(b) in rn.bus_of_pp}
            paid |= np.isin(rn.recv, list(zone))
            paid |= (np.asarray(rn.kind) == "trafo") & (rn.element == idx)
        else:
            for ln in ag.pp_lines:
                if int(ln) in line_rows:
                    paid[line_rows[int(ln)]] = True
    return ~paid


@dataclass
class ModelInputs:
    """The data of the model as cvxpy Parameters, for a model built once and re-solved
    (the MPC, :mod:`.mpc`): set ``.value`` and solve again, cvxpy reuses the compiled
    problem (DPP). Without it (:func:`_build`'s default) the day's numbers are constants.

    ``load_p`` / ``load_q``: (T, n_bus) per unit on the model's buses (after scaling);
    ``price``: (T,) $/MWh; ``loss_price``: (T,) $/MWh charged on the feeder losses
    nobody pays for (a loss weight times the price, see :func:`_solve_model`);
    ``available[(agent, device)]``: (T,) MW; ``e0[(agent, device)]``: MWh stored now;
    ``own_load[agent]`` (T,) MW and ``own_load_value[agent]`` = price x own_load (T,) $/h,
    for microgrids metered by their power balance (no PCC transformer, no ext_grid).
    """

    load_p: cp.Parameter
    load_q: cp.Parameter
    price: cp.Parameter
    loss_price: cp.Parameter
    available: dict[tuple[str, str], cp.Parameter]
    e0: dict[tuple[str, str], cp.Parameter]
    own_load: dict[str, cp.Parameter] = field(default_factory=dict)
    own_load_value: dict[str, cp.Parameter] = field(default_factory=dict)


def load_to_buses(net: Any, rn: RadialNetwork) -> sparse.csr_matrix:
    """(n_load, n_bus) map from ``net.load`` rows (MW, before scaling) to model buses."""
    load = net.load
    lw = (load.scaling.to_numpy(float) if "scaling" in load else np.ones(len(load)))
    lw = lw * load.in_service.to_numpy(bool)
    return rn.bus_map(load.bus.to_numpy(), lw)


def _total(x: Any) -> Any:
    """Sum of a constant array (a float) or of a Parameter (an expression)."""
    return cp.sum(x) if isinstance(x, cp.Expression) else float(np.sum(x))


def _build(sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, *, soft: bool,
           integer: bool, voltage_buses: str, regulated: bool = True,
           voltage_margin: float = 0.0,
           ess_fix: dict[tuple[str, str], np.ndarray] | None = None,
           inputs: ModelInputs | None = None) -> _Model:
    """The cvxpy model of one day (see the module docstring for the formulation).

    ``inputs`` makes the day's data Parameters (see :class:`ModelInputs`); the model is
    then the same but has no load-shedding slack (the shed penalty is data-dependent).

    Everything is vectorised over (hour, branch) / (hour, bus) matrices with sparse
    incidence matrices, so that building a 24-hour model takes tens of milliseconds
    and cvxpy's compilation, not Python loops, dominates the set-up time.
    """
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
    cons: list[cp.Constraint] = [W[:, rn.root] == rn.root_vm ** 2]
    regs = _regulators(sc, rn, taps) if regulated else []
    reg_penalty = 0
    if regs:
        # automatic regulators as ideal continuous ones: the ratio is free within the
        # tap range and holds the LV bus at v_set (penalised deviation only where the
        # tap range runs out, where the env's regulator sits at its limit too)
        cols = [rg.branch for rg in regs]
        a_fixed = a_s.copy()
        a_fixed[:, cols] = 0.0
        Ureg = cp.Variable((T, len(regs)), nonneg=True, name="u_regulator")
        sel = sparse.csr_matrix((np.ones(len(regs)), (np.arange(len(regs)), cols)),
                                shape=(len(regs), nE))
        U = cp.multiply(a_fixed, Ws) + Ureg @ sel
        Wreg = Ws[:, cols]
        cons += [Ureg >= Wreg @ np.diag([rg.a_lo for rg in regs]),
                 Ureg <= Wreg @ np.diag([rg.a_hi for rg in regs])]
        dev = cp.Variable((T, len(regs)), name="regulator_deviation")
        v_set2 = sc.regulator_v_set ** 2
        cons.append(W[:, [rg.bus for rg in regs]] == v_set2 + dev)
        reg_penalty = REGULATOR_PENALTY * cp.sum(cp.abs(dev))
    else:
        Ureg = None
        U = cp.multiply(a_s, Ws)  # |V|² behind the tap at the sending end
    Wcr = cp.multiply(a_c, Wc)
    # through a near-ideal branch (switch, stiff transformer, regulator with a free
    # ratio) l barely enters any equation and is otherwise undetermined: a token cost
    # pins it to (P²+Q²)/u so that the reported cone gap means something
    ideal = np.flatnonzero(np.hypot(r, x).max(axis=0) < IDEAL_Z_PU)
    if regs:
        ideal = np.union1d(ideal, [rg.branch for rg in regs]).astype(int)
    if ideal.size:
        reg_penalty = reg_penalty + IDEAL_CURRENT_COST * cp.sum(L[:, ideal])
    # SOC relaxation of P² + Q² = u l:  ||(2P, 2Q, l - u)|| <= l + u
    cons.append(cp.SOC(cp.vec(L + U, order="C"),
                       cp.vstack([cp.vec(2 * P, order="C"), cp.vec(2 * Q, order="C"),
                                  cp.vec(L - U, order="C")]), axis=0))
    cons.append(Wcr == U - 2 * (cp.multiply(r, P) + cp.multiply(x, Q))
                + cp.multiply(r ** 2 + x ** 2, L))

    # --- injections -----------------------------------------------------------------
    Mload = load_to_buses(net, rn)  # (n_load, nB)
    load_p = sparse.csr_matrix(sc.load_p) @ Mload / rn.base_mva
    load_q = sparse.csr_matrix(sc.load_q) @ Mload / rn.base_mva
    load_p = np.asarray(load_p.todense())
    load_q = np.asarray(load_q.todense())
    if inputs is not None:
        load_p, load_q = inputs.load_p, inputs.load_q

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
    slacks: dict[str, tuple[cp.Variable, np.ndarray]] = {}
    penalty = 0
    load_buses = (np.zeros(0, dtype=int) if inputs is not None else
                  np.flatnonzero(np.abs(load_p).sum(axis=0) + np.abs(load_q).sum(axis=0) > 0))
    if soft and load_buses.size:
        # shedding a fraction of a bus's load: without it a load the network cannot
        # carry (voltage collapse) leaves even the penalised problem infeasible
        shed = cp.Variable((T, load_buses.size), nonneg=True, name="slack_shed")
        sel_b = sparse.csr_matrix((np.ones(load_buses.size),
                                   (np.arange(load_buses.size), load_buses)),
                                  shape=(load_buses.size, nB))
        cons.append(shed <= 1)
        inj_p = inj_p + cp.multiply(shed, load_p[:, load_buses]) @ sel_b
        inj_q = inj_q + cp.multiply(shed, load_q[:, load_buses]) @ sel_b
        slacks["shed"] = (shed, load_buses)
        penalty = SHED_PENALTY * dt * rn.base_mva * cp.sum(
            cp.multiply(np.maximum(load_p[:, load_buses], 0.0), shed))
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
    vlo, vhi = vlo + voltage_margin, vhi - voltage_margin
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
                     e[0] == (c.init_soc * cap if inputs is None else inputs.e0[key]),
                     e[1:] == e[:-1] + dt * (c.ch_eff * p_ch - p_dis / c.dsc_eff),
                     e[1:] >= c.soc_min * cap, e[1:] <= c.soc_max * cap]
            if c.q_max_MVAr > 0:
                cons += [cp.abs(q) <= float(c.q_max_MVAr)]
            else:
                cons += [q == 0]
            fix = (ess_fix or {}).get(key)
            if fix is not None:  # +1: discharge only, -1: charge only, 0: free
                if np.any(fix > 0):
                    cons.append(p_ch[np.flatnonzero(fix > 0)] == 0)
                if np.any(fix < 0):
                    cons.append(p_dis[np.flatnonzero(fix < 0)] == 0)
            elif integer:
                u = cp.Variable(T, boolean=True, name=f"{d.agent}.{d.name}.charging")
                binaries.append(u)
                cons += [p_ch <= -float(c.p_min_MW) * u, p_dis <= float(c.p_max_MW) * (1 - u)]
            ess_vars[key] = (p_ch, p_dis, e)
            dev_cost[d.agent] = dev_cost[d.agent] + dt * float(c.degradation_cost_per_MWh) * (
                cp.sum(p_ch) + cp.sum(p_dis))
        elif d.kind == "renewable":
            avail = sc.available[key] if inputs is None else inputs.available[key]
            cons += [p >= 0, p <= avail]
            if c.pf_min < 1.0:
                tan_phi = float(np.tan(np.arccos(c.pf_min)))
                cons += [cp.abs(q) <= tan_phi * p]
            else:
                cons += [q == 0]
            dev_cost[d.agent] = dev_cost[d.agent] + dt * float(c.curtailment_cost_per_MWh) * (
                _total(avail) - cp.sum(p))
        else:  # pragma: no cover - scenario_from_env rejects other kinds
            raise UnsupportedSetupError(f"device kind {d.kind!r}")

    # --- import metering and costs ----------------------------------------------------------
    branch_of_trafo = {int(rn.element[j]): j for j in range(nE) if rn.kind[j] == "trafo"}
    branch_of_line = {int(rn.element[j]): j for j in range(nE) if rn.kind[j] == "line"}
    imports: dict[str, cp.Expression] = {}
    agent_cost: dict[str, cp.Expression] = {}
    priced: dict[str, cp.Expression] = {}  # price x import of balance-metered agents (inputs)
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
            own_load = (sc.load_p[:, ag.load_rows].sum(axis=1) if inputs is None
                        else inputs.own_load[ag.name])
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
            if inputs is not None:
                # price x import without a product of two parameters (DPP): the load's
                # value is its own parameter
                priced[ag.name] = (inputs.own_load_value[ag.name]
                                   - cp.multiply(inputs.price, gen - loss))
        imports[ag.name] = imp
        cost = dev_cost[ag.name]
        if ag.include_grid_cost and ag.name in priced:
            ratio, v = ag.sell_price_ratio, priced[ag.name]
            cost = cost + dt * (cp.sum(v) if ratio == 1.0 else
                                cp.sum(cp.maximum(v, ratio * v)))
        elif ag.include_grid_cost:
            price = sc.price if inputs is None else inputs.price
            cost = cost + _grid_cost(imp, price, ag.sell_price_ratio, dt, ag.name)
        agent_cost[ag.name] = cost
    cost_expr = sum(agent_cost.values())
    objective = cost_expr + penalty if soft else cost_expr
    objective = objective + reg_penalty
    problem = cp.Problem(cp.Minimize(objective), cons)
    # priced losses of the branches no microgrid pays for: the env's import metering
    # leaves them out, which is what lets the relaxation inflate them (_solve_model)
    unpaid = _unpaid_branches(sc, rn)
    if inputs is not None and unpaid.any():
        # (T, n_unpaid) parameter-affine price grid times the variable: DPP
        grid = cp.reshape(inputs.loss_price, (T, 1), order="C") @ np.ones((1, int(unpaid.sum())))
        feeder_loss = cp.sum(cp.multiply(r[:, unpaid] * dt * rn.base_mva,
                                         cp.multiply(grid, L[:, unpaid])))
    else:
        feeder_loss = (cp.sum(cp.multiply(r[:, unpaid] * sc.price[:, None] * dt * rn.base_mva,
                                          L[:, unpaid])) if unpaid.any() else None)
    return _Model(problem=problem, cost_expr=cost_expr,
                  penalty_expr=penalty if soft else None, agent_cost=agent_cost,
                  imports=imports, P=P, Q=Q, L=L, W=W, U=U, dev_p=dev_p, dev_q=dev_q,
                  ess=ess_vars, slacks=slacks, binaries=binaries, r=r, x=x,
                  objective=objective, constraints=cons, regulators=regs, Ureg=Ureg,
                  feeder_loss=feeder_loss)


# ======================================================================== solving
def _pick_solver(integer: bool) -> str:
    installed = set(cp.installed_solvers())
    if CONTINUOUS_SOLVER not in installed:  # needed in both modes (see _solve_model)
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


def _solver_seconds(problem: cp.Problem) -> float:
    stats = problem.solver_stats
    return float(stats.solve_time) if stats is not None and stats.solve_time else 0.0


def _solve(model: _Model, solver: str, loss_weight: float = 0.0,
           stats: _CCPStats | None = None) -> tuple[str, float]:
    """Solve the relaxation; ``loss_weight`` > 0 adds that share of the priced feeder losses."""
    t0 = time.perf_counter()
    problem = model.problem
    if loss_weight and model.feeder_loss is not None:
        problem = cp.Problem(cp.Minimize(model.objective + loss_weight * model.feeder_loss),
                             model.constraints)
    try:
        with warnings.catch_warnings():  # the status says it (optimal_inaccurate)
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.solve(solver=solver, verbose=False, **SOLVER_OPTIONS.get(solver, {}))
    except cp.error.SolverError as exc:
        log.warning("solver %s failed: %s", solver, exc)
        return "solver_error", time.perf_counter() - t0
    if stats is not None:
        stats.solver_s += _solver_seconds(problem)
    return str(problem.status), time.perf_counter() - t0


@dataclass
class _CCPStats:
    iterations: int = 0
    seconds: float = 0.0
    relaxed_objective: float = float("nan")
    converged: bool = True
    status: str = ""
    tau: float = CCP_TAU0
    direction_rounds: int = 0
    loss_weight: float = 0.0
    solver_s: float = 0.0  # inside the solver (the rest of a solve is cvxpy compiling)


def _gap_measures(model: _Model) -> tuple[float, float]:
    """(excess losses MW, voltage error pu²) of the relaxation at the current point.

    ``l - (P²+Q²)/u`` weighted by ``r`` (losses that exist only in the relaxation,
    largest hourly sum) and by ``r² + x²`` (its effect on the next bus's ``|V|²``,
    largest branch). Weighting by impedance ignores the meaningless slack of the
    near-ideal regulators and switches, whose ``l`` barely enters any equation.
    """
    P, Q, L = model.P.value, model.Q.value, model.L.value
    U = np.maximum(np.asarray(model.U.value), 1e-6)
    dl = np.maximum(L - (P ** 2 + Q ** 2) / U, 0.0)
    return (float((model.r * dl).sum(axis=1).max()),
            float(((model.r ** 2 + model.x ** 2) * dl).max()))


def _is_exact(model: _Model) -> bool:
    exl, dv = _gap_measures(model)
    return exl <= CCP_LOSS_TOL and dv <= CCP_DV_TOL


def _ccp(model: _Model, solver: str, stats: _CCPStats, *, max_iter: int = CCP_MAX_ITER,
         tau0: float | None = None, status: str = cp.OPTIMAL) -> str:
    """Tighten an inexact relaxation with the penalty convex-concave procedure.

    Why: the relaxation is exact only while every microgrid pays for losses it
    could inflate. The DSO's feeder losses are nobody's cost, and where an
    over- or under-voltage limit binds the relaxed optimum "spends" fictitious
    losses on the feeder to move voltages: an optimum the power flow cannot
    reproduce. Each iteration adds ``l <= lin(P, Q, u) + sigma`` where ``lin`` is the
    tangent of the convex ``(P²+Q²)/u`` at the last solution (so ``lin <= (P²+Q²)/u``)
    and penalises ``sigma`` with a growing weight; at ``sigma = 0`` the cone is tight
    and the point satisfies the exact DistFlow equations. The result is a local
    optimum of the exact (non-convex) model; the relaxed objective, kept in
    ``stats.relaxed_objective``, bounds the global one from below.
    """
    tau = CCP_TAU0 if tau0 is None else tau0
    for k in range(max_iter):
        exl, dv = _gap_measures(model)
        if exl <= CCP_LOSS_TOL and dv <= CCP_DV_TOL:
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
                prob.solve(solver=solver, verbose=False, **SOLVER_OPTIONS.get(solver, {}))
        except cp.error.SolverError as exc:
            log.warning("CCP iteration %d: solver %s failed: %s", k, solver, exc)
            status = "solver_error"
            break
        finally:
            stats.seconds += time.perf_counter() - t0
            stats.iterations += 1
        stats.solver_s += _solver_seconds(prob)
        status = str(prob.status)
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            break
        tau = min(tau * CCP_TAU_GROWTH, CCP_TAU_MAX)
        stats.tau = tau
    exl, dv = _gap_measures(model) if model.P.value is not None else (np.inf, np.inf)
    stats.converged = exl <= CCP_LOSS_TOL and dv <= CCP_DV_TOL
    stats.status = status
    return status


def _violations(model: _Model, sc: DayScenario, rn: RadialNetwork,
                top: int = 20) -> list[str]:
    """Named constraints whose slack is non-zero, largest first."""
    found: list[tuple[float, str]] = []
    names = {"v_min": "voltage lower limit", "v_max": "voltage upper limit",
             "line": "line current limit", "shed": "power balance (load cannot be served)"}
    for key, (var, idx) in model.slacks.items():
        val = np.asarray(var.value)
        for t, col in zip(*np.nonzero(val > SLACK_TOL), strict=True):
            where = (rn.branch_name(int(idx[col]), sc.net) if key == "line"
                     else rn.bus_name(int(idx[col]), sc.net))
            unit = {"line": "x I_max²", "shed": "of the bus's load"}.get(key, "pu² of |V|²")
            found.append((float(val[t, col]),
                          f"{names[key]} at {where}, hour {t} (slack {val[t, col]:.3g} {unit})"))
    found.sort(key=lambda z: -z[0])
    out = [s for _, s in found[:top]]
    if len(found) > top:
        out.append(f"... and {len(found) - top} more")
    return out


def _soc_gap(model: _Model) -> dict[str, float]:
    """How far the cone is from equality at the solution: u*l - (P² + Q²).

    ``max_abs`` in pu² (MVA² on the net's base); ``max_rel`` is that normalised by the
    largest ``u*l`` of the day (the network's scale: a per-branch ratio is 0/0 noise on
    idle branches); weighted by impedance (the physically meaningful part, see
    :func:`_gap_measures`): ``excess_loss_MW`` and ``dv_pu2``.
    """
    P, Q, L = model.P.value, model.Q.value, model.L.value
    if P is None:
        return {"max_abs": float("nan"), "max_rel": float("nan"),
                "excess_loss_MW": float("nan"), "dv_pu2": float("nan")}
    ul = np.asarray(model.U.value) * L
    gap = np.maximum(ul - (P ** 2 + Q ** 2), 0.0)
    scale = max(float(ul.max()), GAP_FLOOR)
    exl, dv = _gap_measures(model)
    return {"max_abs": float(gap.max()), "max_rel": float(gap.max()) / scale,
            "excess_loss_MW": exl, "dv_pu2": dv}


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
    taps = np.asarray(taps, dtype=float).copy()
    if ok and model.regulators:
        pos = {int(i): k for k, i in enumerate(net.trafo.index)}
        ws = np.asarray(model.W.value)[:, rn.send[[rg.branch for rg in model.regulators]]]
        ratio = np.asarray(model.Ureg.value) / np.maximum(ws, 1e-9)
        for k, rg in enumerate(model.regulators):
            # 1/tau² = a_nom (1 + (tap - neutral) step)^(±2)  ->  continuous tap
            f = np.sqrt(np.maximum(ratio[:, k] / rg.a_nom, 1e-12)) ** rg.sign
            taps[:, pos[rg.trafo]] = rg.neutral + (f - 1.0) / rg.step
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
        line_loading_pct=loading, taps=taps,
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
def _tap_array(sc: DayScenario, taps: Any) -> tuple[np.ndarray, bool]:
    """(T, n_trafo) fixed tap positions and whether regulators are modelled."""
    T = sc.horizon
    if isinstance(taps, str):
        if taps not in ("regulated", "initial"):
            raise ValueError("taps must be 'regulated', 'initial' or an array (T, n_trafo).")
        return np.tile(sc.initial_taps, (T, 1)), taps == "regulated"
    arr = np.asarray(taps, dtype=float)
    if arr.ndim == 1:
        arr = np.tile(arr, (T, 1))
    if arr.shape != (T, len(sc.net.trafo)):
        raise ValueError(f"taps: expected shape ({T}, {len(sc.net.trafo)}), got {arr.shape}.")
    return arr, False


def _directions(model: _Model, tol: float) -> dict[tuple[str, str], np.ndarray]:
    """Per battery and hour: +1 discharging, -1 charging, 0 idle (by the net power)."""
    out = {}
    for key, (p_ch, p_dis, _) in model.ess.items():
        net = np.asarray(p_dis.value) - np.asarray(p_ch.value)
        out[key] = np.where(net > tol, 1, np.where(net < -tol, -1, 0))
    return out


def _simultaneous(model: _Model) -> dict[tuple[str, str], np.ndarray]:
    return {k: np.minimum(np.asarray(c.value), np.asarray(d.value))
            for k, (c, d, _) in model.ess.items()}


def _solve_model(sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, opts: dict[str, Any],
                 soft: bool, exact: bool, solver: str
                 ) -> tuple[_Model, str, float, float, _CCPStats]:
    """Relaxed solve, then make it replayable: a tight cone and no battery dumping.

    Returns (model, status, solve seconds, build seconds, stats).

    Why the loss weight: a relaxation is exact when the objective strictly increases
    with every branch's losses. Microgrids pay for their own losses through the PCC
    import, but feeder losses are free, so the relaxed optimum inflates them to move
    voltages. Charging a share ``w`` of the feeder losses at the energy price
    restores the monotonicity; ``w`` is raised through ``LOSS_WEIGHTS`` until the cone
    is tight, and only then the slower CCP (:func:`_ccp`) takes over.

    Why the battery step: with separate ``p_ch`` and ``p_dis`` the convex model may
    charge and discharge at once, burning energy in the efficiencies. That is the
    cheapest "dump load" when voltage limits force a microgrid to consume, but the
    environment's battery only sees the net power and cannot do it. Hours where it
    happens get their direction fixed (by the sign of the net power) and the model
    is re-solved; with ``integer=True`` the directions come from the MISOCP's binaries.
    Fixing directions restricts the model, so the result stays a feasible point.
    """
    integer = opts["integer"]
    opts = {**opts, "integer": False}
    t0 = time.perf_counter()
    model = _build(sc, rn, taps, soft=soft, **opts)
    build_s = time.perf_counter() - t0
    stats = _CCPStats()
    # the plain continuous relaxation: its objective bounds every later stage (and the
    # MISOCP) from below
    status, seconds = _solve(model, CONTINUOUS_SOLVER, stats=stats)
    if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        return model, status, seconds, build_s, stats
    stats.relaxed_objective = float(model.cost_expr.value)
    fixes: dict[tuple[str, str], np.ndarray] = {}
    if integer and model.ess:
        t0 = time.perf_counter()
        mip = _build(sc, rn, taps, soft=soft, **{**opts, "integer": True})
        build_s += time.perf_counter() - t0
        mip_status, s = _solve(mip, solver, stats=stats)
        seconds += s
        if mip_status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return mip, mip_status, seconds, build_s, stats
        # continue with the binaries' directions fixed, as a continuous model (CCP needs
        # one); the MISOCP itself is still a relaxation of the cone
        fixes = _directions(mip, ESS_TOL)
        model, status, s, b = _rebuild(model, sc, rn, taps, soft, opts, fixes,
                                       CONTINUOUS_SOLVER, stats=stats)
        seconds += s
        build_s += b
    solver = CONTINUOUS_SOLVER  # every later stage is a continuous SOCP
    weight = 0.0
    if exact and model.feeder_loss is not None and not _is_exact(model):
        for weight in LOSS_WEIGHTS:
            status, s = _solve(model, solver, weight, stats)
            seconds += s
            if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or _is_exact(model):
                break
        stats.loss_weight = weight
    if exact and status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        status = _ccp(model, solver, stats, status=status)
        seconds += stats.seconds
    for _ in range(ESS_FIX_ROUNDS):
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or not model.ess:
            break
        sim = _simultaneous(model)
        if max(float(v.max()) for v in sim.values()) <= ESS_TOL:
            break
        direction = _directions(model, 0.0)
        for key, v in sim.items():
            hours = v > ESS_TOL
            fix = fixes.setdefault(key, np.zeros(sc.horizon, dtype=int))
            # net ~ 0 while dumping: charge-only (the dump was absorbing power)
            fix[hours] = np.where(direction[key][hours] > 0, 1, -1)
        stats.direction_rounds += 1
        model, status, s, b = _rebuild(model, sc, rn, taps, soft, opts, fixes, solver,
                                       loss_weight=stats.loss_weight, stats=stats)
        seconds += s
        build_s += b
        if exact and status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            before = stats.seconds
            status = _ccp(model, solver, stats, tau0=stats.tau, status=status)
            seconds += stats.seconds - before
    return model, status, seconds, build_s, stats


def _rebuild(old: _Model, sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, soft: bool,
             opts: dict[str, Any], fixes: dict[tuple[str, str], np.ndarray], solver: str,
             loss_weight: float = 0.0, stats: _CCPStats | None = None
             ) -> tuple[_Model, str, float, float]:
    """A new model with battery directions fixed, solved (relaxation, ``loss_weight``)."""
    t0 = time.perf_counter()
    model = _build(sc, rn, taps, soft=soft, **{**opts, "ess_fix": fixes})
    build_s = time.perf_counter() - t0
    status, seconds = _solve(model, solver, loss_weight, stats)
    if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and not _is_exact(model):
        # the relaxation drifted: continue the CCP from where the last model was
        for name in ("P", "Q", "L", "W", "Ureg"):
            src, dst = getattr(old, name), getattr(model, name)
            if src is not None and dst is not None and src.value is not None:
                dst.value = src.value
    return model, status, seconds, build_s


def solve_scenario(sc: DayScenario, *, integer: bool = False, taps: Any = "regulated",
                   soft: bool = False, exact: bool = True, voltage_buses: str = "microgrids",
                   voltage_margin: float | None = None,
                   network: RadialNetwork | None = None) -> OracleResult:
    """Solve one prepared :class:`DayScenario` (see :func:`solve_day` for the options)."""
    solver = _pick_solver(integer)
    # integer: the MISOCP only decides the battery directions, Clarabel does the rest
    name = f"{solver}+{CONTINUOUS_SOLVER}" if integer else solver
    rn = network or RadialNetwork.from_net(sc.net)
    tap_arr, regulated = _tap_array(sc, taps)
    if voltage_margin is None:
        voltage_margin = sc.regulator_bandwidth / 2.0 if (regulated and sc.regulators) else 0.0
    opts = {"integer": integer, "voltage_buses": voltage_buses, "regulated": regulated,
            "voltage_margin": float(voltage_margin)}
    model, status, solve_s, build_s, stats = _solve_model(sc, rn, tap_arr, opts, soft, exact,
                                                          solver)
    ok = status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    if ok and stats.converged:
        violations = _violations(model, sc, rn) if soft else []
        feasible = not violations
        return _finish(model, sc, rn, tap_arr, stats, status="optimal" if feasible else
                       "infeasible", feasible=feasible, solve_s=solve_s, build_s=build_s,
                       solver=name, solver_status=status, violations=violations)
    if soft:
        return _finish(model, sc, rn, tap_arr, stats, status="solver_error", feasible=False,
                       solve_s=solve_s, build_s=build_s, solver=name, solver_status=status,
                       violations=[])
    # hard limits infeasible, or only reachable through the relaxation's fictitious
    # losses (CCP did not close the gap): re-solve with penalised slacks, name culprits
    hard_status = status
    if ok and not stats.converged:
        hard_status = f"{status}, relaxation gap not closed"
    soft_model, soft_status, soft_s, soft_b, soft_stats = _solve_model(
        sc, rn, tap_arr, opts, True, exact, solver)
    build_s += soft_b
    soft_stats.solver_s += stats.solver_s
    ok = soft_status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    violations = _violations(soft_model, sc, rn) if ok else []
    if ok and not violations:
        violations = [f"no limit violated at the penalised optimum; the hard problem was "
                      f"reported {hard_status} by {name} (numerical trouble)"]
    return _finish(soft_model, sc, rn, tap_arr, soft_stats,
                   status="infeasible" if ok else "solver_error", feasible=False,
                   solve_s=solve_s + soft_s, build_s=build_s, solver=name,
                   solver_status=f"{hard_status} (hard) / {soft_status} (soft)",
                   violations=violations)


def _finish(model: _Model, sc: DayScenario, rn: RadialNetwork, taps: np.ndarray,
            stats: _CCPStats, **kw: Any) -> OracleResult:
    res = _extract(model, sc, rn, taps, **kw)
    res.relaxed_objective = stats.relaxed_objective
    res.ccp_iterations = stats.iterations
    res.exact = bool(model.P.value is not None and _is_exact(model))
    res.loss_weight = stats.loss_weight
    res.solver_time_s = stats.solver_s
    return res


def solve_day(config: dict[str, Any], day: int, split: str = "test", horizon: int = 24,
              integer: bool = False, *, taps: Any = "regulated", soft: bool = False,
              exact: bool = True, voltage_buses: str = "microgrids",
              voltage_margin: float | None = None, env: Any = None) -> OracleResult:
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
            regulators' bandwidth when they are modelled, because the env's discrete
            regulators leave their bus anywhere in ``v_set ± bandwidth/2`` while the model
            holds it at ``v_set``; the margin keeps the replay inside the limits.
        env: an environment built from ``config`` for this split/horizon, to reuse.
    """
    env = env if env is not None else make_env(config, split, horizon)
    sc = scenario_from_env(env, day, horizon)
    return solve_scenario(sc, integer=integer, taps=taps, soft=soft, exact=exact,
                          voltage_buses=voltage_buses, voltage_margin=voltage_margin)
