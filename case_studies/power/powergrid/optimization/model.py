"""The convex DistFlow model of one horizon, shared by the oracle and the MPC.

There is one model for both because the MPC's claim to be the operator's version
of the oracle holds only if it optimises the same thing. A perfect-forecast MPC
then reproduces the oracle (a test checks it).

* **Network** (:mod:`.network`): the DistFlow branch-flow model with the
  second-order-cone relaxation on the environment's radial net. Per branch there
  are ``P, Q, l``, and per bus ``w = |V|²``. Lines and transformers are in per unit,
  the off-nominal tap ratio sits in the voltage-drop equation, and line charging
  and bus shunts are included.
* **Regulators** (``regulated=True``): the environment's automatic step-voltage
  regulators (:mod:`powergrid.envs.regulators`) become ideal continuous
  regulators. The ratio is free within the tap range and holds the LV bus at
  ``v_set``; a deviation is allowed, at a large penalty, only where the range cannot
  reach it. Every other transformer keeps its given tap.
* **Limits**: ``|V|²`` in ``[(v_min + margin)², (v_max - margin)²]`` at every
  microgrid bus (``voltage_buses="all"`` adds the DSO feeder), and ``l <= I_max²``
  on every rated line. They are hard, or soft (``soft=True``) with penalised
  slacks. There is one voltage slack per bus and hour, because a bus can only
  violate one of its two limits at once.
* **Devices** (:mod:`.devices`) and **metering** (:mod:`.metering`), exactly as the
  environment prices them.
* **Objective**: the sum of the microgrids' ``agent.cost``, plus the penalties.
  ``Model.feeder_loss`` (the priced losses nobody pays for) is kept separate,
  because the solving steps (:mod:`.solving`) add a share of it.

The day's numbers are constants, or, with :class:`ModelInputs`, cvxpy Parameters
(DPP). The MPC builds the model once that way and re-solves it every hour.

Bounds the cones already imply are left out where that is harmless. ``w >= 0``
follows from ``||(2P, 2Q, l - u)|| <= l + u`` at every sending bus, so it is only
written at the leaves. That keeps the interior-point solver's linear systems
smaller, and the problem is the same. ``l >= 0`` is implied too, but it stays
explicit. Without it, Clarabel's solution leaves slack in the cone of low-impedance
feeder branches whose losses cost next to nothing (``max_rel`` gap 1e-2 instead of
4e-6 on ``ieee34_ieee13``'s line L20, day 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
from scipy import sparse

from powergrid.optimization.devices import device_model
from powergrid.optimization.metering import Flows, grid_cost, meters, unpaid_branches
from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.scenario import DayScenario

#: $ per hour per unit of slack: voltage slack is in pu² of |V|², line slack in
#: fractions of I_max². Large enough to be an exact penalty for this problem's
#: duals (hundreds of $/pu²), small enough to keep Clarabel well conditioned.
VOLTAGE_PENALTY = 1e5
LINE_PENALTY = 1e4
#: $ per pu² (of |V|², per hour) that a regulated bus is away from the regulators' set
#: point; only paid where the tap range cannot reach it
REGULATOR_PENALTY = 1e6
#: branches below this impedance (pu) count as ideal; $ per pu² of squared current per
#: hour through them and through modelled regulators (a tie-breaker, see build_model)
IDEAL_Z_PU = 1e-4
IDEAL_CURRENT_COST = 1e-2
#: $ per MWh of load shed in the penalised re-solve (a value of lost load)
SHED_PENALTY = 1e4


@dataclass
class ModelInputs:
    """The data of the model as cvxpy Parameters, for a model built once and re-solved.

    The MPC (:mod:`.mpc`) builds it this way: set ``.value`` and solve again, and the
    compiled problem is reused (DPP). Without it (:func:`build_model`'s default) the
    day's numbers are constants.

    ``load_p`` / ``load_q``: (T, n_bus) per unit on the model's buses (after scaling);
    ``price``: (T,) $/MWh; ``loss_price``: (T,) $/MWh charged on the feeder losses
    nobody pays for (a loss weight times the price, see :mod:`.solving`);
    ``available[(agent, device)]``: (T,) MW; ``e0[(agent, device)]``: MWh stored now;
    ``own_load[agent]`` (T,) MW and ``own_load_value[agent]`` = price x own_load (T,) $/h,
    for microgrids metered by their power balance (:mod:`.metering`);
    ``energy_reset``: (T,) 0/1, 1 in an hour whose batteries start with whatever energy
    suits the plan, not the energy the hour before left them (:mod:`.devices`).
    """

    load_p: cp.Parameter
    load_q: cp.Parameter
    price: cp.Parameter
    loss_price: cp.Parameter
    available: dict[tuple[str, str], cp.Parameter]
    e0: dict[tuple[str, str], cp.Parameter]
    own_load: dict[str, cp.Parameter] = field(default_factory=dict)
    own_load_value: dict[str, cp.Parameter] = field(default_factory=dict)
    energy_reset: cp.Parameter | None = None

    @classmethod
    def for_scenario(cls, sc: DayScenario, rn: RadialNetwork) -> ModelInputs:
        """Parameters shaped for ``sc``'s horizon and network (values unset)."""
        T, nB = sc.horizon, rn.n_bus
        balance = [ag.name for ag in sc.agents if ag.import_meter[0] == "balance"]
        return cls(
            load_p=cp.Parameter((T, nB), name="load_p"),
            load_q=cp.Parameter((T, nB), name="load_q"),
            price=cp.Parameter(T, name="price"), loss_price=cp.Parameter(T, name="loss_price"),
            available={(d.agent, d.name): cp.Parameter(T, nonneg=True,
                                                       name=f"avail.{d.agent}.{d.name}")
                       for d in sc.devices if d.kind == "renewable"},
            e0={(d.agent, d.name): cp.Parameter(name=f"e0.{d.agent}.{d.name}")
                for d in sc.devices if d.kind == "ess"},
            own_load={a: cp.Parameter(T, name=f"own_load.{a}") for a in balance},
            own_load_value={a: cp.Parameter(T, name=f"own_load_value.{a}") for a in balance},
            energy_reset=cp.Parameter(T, nonneg=True, name="energy_reset"))


@dataclass
class Regulator:
    """Model data of one automatic regulator, the ratio range it can reach."""

    trafo: int  # pandapower index
    branch: int  # model branch
    bus: int  # regulated (LV) model bus
    a_lo: float  # range of 1/tau² over the tap range
    a_hi: float
    a_nom: float  # 1/tau² at the neutral tap
    sign: float  # +1: 1/tau² grows with the tap (tap on the LV side), -1: shrinks
    step: float  # per unit per tap step
    neutral: float


@dataclass
class Model:
    """The cvxpy model of one horizon and handles on what the solving steps read."""

    problem: cp.Problem
    cost_expr: cp.Expression  # the microgrids' cost ($), penalties excluded
    penalty_expr: cp.Expression | None  # slack penalties ($) of a soft model
    agent_cost: dict[str, cp.Expression]
    imports: dict[str, cp.Expression]  # MW per hour, as metered
    P: cp.Variable
    Q: cp.Variable
    L: cp.Variable
    W: cp.Variable
    U: cp.Expression  # |V|² behind the tap at each branch's sending end
    dev_p: dict[tuple[str, str], cp.Expression]
    dev_q: dict[tuple[str, str], cp.Expression]
    ess: dict[tuple[str, str], tuple[cp.Variable, cp.Variable, cp.Variable]]
    #: "voltage" | "line" | "shed" -> (slack variable, model bus / branch per column)
    slacks: dict[str, tuple[cp.Variable, np.ndarray]]
    binaries: list[cp.Variable]
    r: np.ndarray  # (T, n_branch) per unit
    x: np.ndarray
    objective: cp.Expression
    constraints: list[cp.Constraint]
    regulators: list[Regulator]
    Ureg: cp.Variable | None
    feeder_loss: cp.Expression | None  # priced losses of the branches nobody pays for
    #: the voltage limits in the model (|V|², (T, n) over the buses of slacks["voltage"])
    v_lo2: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    v_hi2: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def load_to_buses(net: Any, rn: RadialNetwork) -> sparse.csr_matrix:
    """(n_load, n_bus) map from ``net.load`` rows (MW, before scaling) to model buses."""
    load = net.load
    lw = (load.scaling.to_numpy(float) if "scaling" in load else np.ones(len(load)))
    lw = lw * load.in_service.to_numpy(bool)
    return rn.bus_map(load.bus.to_numpy(), lw)


def regulators(sc: DayScenario, rn: RadialNetwork, taps: np.ndarray) -> list[Regulator]:
    """Model data of the env's automatic regulators (ratio range, regulated bus).

    Only regulators whose tapped side faces the slack get a free ratio (all the
    feeders' regulators do); any other keeps its fixed tap.
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
        out.append(Regulator(
            trafo=t, branch=j, bus=rn.bus_of_pp[int(tr.lv_bus)],
            a_lo=float(min(a_min_tap[j], a_max_tap[j])),
            a_hi=float(max(a_min_tap[j], a_max_tap[j])),
            a_nom=float(a_nom), sign=sign, step=step, neutral=neutral))
    return out


def voltage_limits(sc: DayScenario, rn: RadialNetwork, voltage_buses: str,
                   margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(v_lo, v_hi) per model bus (pu, NaN: no limit), with ``margin`` taken off both."""
    nB = rn.n_bus
    vlo = np.full(nB, np.nan)
    vhi = np.full(nB, np.nan)
    for ag in sc.agents:
        lo, hi = ag.v_limits
        for pb in ag.pp_buses:
            m = rn.bus_of_pp.get(int(pb))
            if m is not None:
                vlo[m] = lo if np.isnan(vlo[m]) else max(vlo[m], lo)
                vhi[m] = hi if np.isnan(vhi[m]) else min(vhi[m], hi)
    if voltage_buses == "all":
        from powergrid.utils.safety import V_MAX_PU, V_MIN_PU

        vlo = np.where(np.isnan(vlo), V_MIN_PU, vlo)
        vhi = np.where(np.isnan(vhi), V_MAX_PU, vhi)
    elif voltage_buses != "microgrids":
        raise ValueError(f"voltage_buses={voltage_buses!r}: use 'microgrids' or 'all'.")
    vlo, vhi = vlo + margin, vhi - margin
    vlo[rn.root] = vhi[rn.root] = np.nan  # the slack's voltage is given
    return vlo, vhi


def build_model(sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, *, soft: bool,
                integer: bool, voltage_buses: str, regulated: bool = True,
                voltage_margin: float = 0.0,
                ess_fix: dict[tuple[str, str], np.ndarray] | None = None,
                inputs: ModelInputs | None = None,
                fixed_tap_hours: np.ndarray | None = None) -> Model:
    """The cvxpy model of ``sc``'s horizon (see the module docstring).

    ``taps`` is (T, n_trafo) fixed tap positions (the regulators' are free when
    ``regulated``, except in the hours ``fixed_tap_hours`` marks: there they keep
    ``taps`` and their bus only has to stay in the band, see :mod:`.ac_correction`).
    ``inputs`` makes the day's data Parameters; that model has no
    load-shedding slack, because the shed penalty depends on the data.

    Everything is vectorised over (hour, branch) / (hour, bus) matrices with sparse
    incidence matrices. Building a 24-hour model then takes tens of milliseconds,
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
    L = cp.Variable((T, nE), nonneg=True, name="l")  # explicit (module docstring)
    W = cp.Variable((T, nB), name="w")  # >= 0 by the cone at sending buses
    Ws = W @ ST  # (T, nE) |V|² at sending buses
    Wc = W @ CT
    cons: list[cp.Constraint] = [W[:, rn.root] == rn.root_vm ** 2]
    leaves = np.setdiff1d(np.arange(nB), np.append(rn.send, rn.root))
    if leaves.size:
        cons.append(W[:, leaves] >= 0)
    regs = regulators(sc, rn, taps) if regulated else []
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
        dev = cp.Variable((T, len(regs)), name="regulator_deviation")
        Wbus = W[:, [rg.bus for rg in regs]]
        free = np.ones(T, dtype=bool) if fixed_tap_hours is None else ~np.asarray(
            fixed_tap_hours, dtype=bool)
        fh, hf = np.flatnonzero(free), np.flatnonzero(~free)
        if fh.size:
            cons += [Ureg[fh] >= Wreg[fh] @ np.diag([rg.a_lo for rg in regs]),
                     Ureg[fh] <= Wreg[fh] @ np.diag([rg.a_hi for rg in regs]),
                     Wbus[fh] == sc.regulator_v_set ** 2 + dev[fh]]
        if hf.size:
            # taps given in these hours: the ratio is theirs, and the regulated bus only
            # has to stay inside the band, where the env's regulator leaves its tap alone
            half = sc.regulator_bandwidth / 2.0
            cons += [Ureg[hf] == cp.multiply(a_s[hf][:, cols], Wreg[hf]),
                     Wbus[hf] >= (sc.regulator_v_set - half) ** 2 + dev[hf],
                     Wbus[hf] <= (sc.regulator_v_set + half) ** 2 + dev[hf]]
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
    if inputs is not None:
        load_p, load_q = inputs.load_p, inputs.load_q
    else:
        load_p = np.asarray((sparse.csr_matrix(sc.load_p) @ Mload).todense()) / rn.base_mva
        load_q = np.asarray((sparse.csr_matrix(sc.load_q) @ Mload).todense()) / rn.base_mva
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
    vlo, vhi = voltage_limits(sc, rn, voltage_buses, voltage_margin)
    vb = np.flatnonzero(~np.isnan(vlo))
    lo2 = np.tile(vlo[vb] ** 2, (T, 1))
    hi2 = np.tile(vhi[vb] ** 2, (T, 1))
    rated = np.flatnonzero(np.isfinite(rn.imax_pu))
    if vb.size:
        if soft:
            # one slack per bus and hour: a bus cannot be below and above its band at once
            s_v = cp.Variable((T, vb.size), nonneg=True, name="slack_voltage")
            cons += [W[:, vb] >= lo2 - s_v, W[:, vb] <= hi2 + s_v]
            slacks["voltage"] = (s_v, vb)
            penalty = penalty + VOLTAGE_PENALTY * cp.sum(s_v)
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

    # --- devices, metering and costs ----------------------------------------------------
    dm = device_model(sc, Pg, Qg, integer=integer, ess_fix=ess_fix, inputs=inputs)
    cons += dm.constraints
    metered = meters(sc, rn, Flows(sent_p, recv_p, P0), dm.p, inputs)
    price = sc.price if inputs is None else inputs.price
    agent_cost = {ag.name: dm.cost[ag.name] + grid_cost(ag, metered[ag.name], price, dt)
                  for ag in sc.agents}
    cost_expr = sum(agent_cost.values())
    objective = (cost_expr + penalty if soft else cost_expr) + reg_penalty
    problem = cp.Problem(cp.Minimize(objective), cons)
    # priced losses of the branches no microgrid pays for: the env's import metering
    # leaves them out, which is what lets the relaxation inflate them (see .solving)
    unpaid = unpaid_branches(sc, rn)
    feeder_loss = None
    if inputs is not None and unpaid.any():
        # (T, n_unpaid) parameter-affine price grid times the variable: DPP
        grid = cp.reshape(inputs.loss_price, (T, 1), order="C") @ np.ones((1, int(unpaid.sum())))
        feeder_loss = cp.sum(cp.multiply(r[:, unpaid] * dt * rn.base_mva,
                                         cp.multiply(grid, L[:, unpaid])))
    elif unpaid.any():
        feeder_loss = cp.sum(cp.multiply(r[:, unpaid] * sc.price[:, None] * dt * rn.base_mva,
                                         L[:, unpaid]))
    return Model(problem=problem, cost_expr=cost_expr,
                 penalty_expr=penalty if soft else None, agent_cost=agent_cost,
                 imports={a: m.imp for a, m in metered.items()}, P=P, Q=Q, L=L, W=W, U=U,
                 dev_p=dm.p, dev_q=dm.q, ess=dm.ess, slacks=slacks, binaries=dm.binaries,
                 r=r, x=x, objective=objective, constraints=cons, regulators=regs, Ureg=Ureg,
                 feeder_loss=feeder_loss, v_lo2=lo2, v_hi2=hi2)


def tap_positions(sc: DayScenario, taps: Any) -> tuple[np.ndarray, bool]:
    """(T, n_trafo) fixed tap positions for the ``taps`` option, and whether the
    regulators are modelled (``"regulated"``: free ratios; ``"initial"``: every tap at
    its post-reset position; an array ``(T, n_trafo)`` or ``(n_trafo,)``: these)."""
    T = sc.horizon
    if isinstance(taps, str):
        if taps not in ("regulated", "initial"):
            raise ValueError(f"taps={taps!r}: use 'regulated', 'initial' or an array "
                             "(T, n_trafo) of tap positions.")
        return np.tile(sc.initial_taps, (T, 1)), taps == "regulated"
    arr = np.asarray(taps, dtype=float)
    if arr.ndim == 1:
        arr = np.tile(arr, (T, 1))
    if arr.shape != (T, len(sc.net.trafo)):
        raise ValueError(f"taps: expected shape ({T}, {len(sc.net.trafo)}), got {arr.shape}.")
    return arr, False


def default_voltage_margin(sc: DayScenario, regulated: bool) -> float:
    """Voltage margin (pu) taken off both limits when none is given.

    It is half the regulators' bandwidth when they are modelled. The environment's
    discrete regulators leave their bus anywhere in ``v_set ± bandwidth/2``, while the
    model holds it at ``v_set``; the margin keeps the buses behind them inside their
    limits anyway.
    """
    return sc.regulator_bandwidth / 2.0 if (regulated and sc.regulators) else 0.0
