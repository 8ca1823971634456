"""What the oracle reports: setpoints in environment units, the environment's costs
at them, and the diagnostics that say how far to trust them.

The costs are evaluated with the environment's own cost functions
(:mod:`powergrid.utils.cost`), not with the model's expressions. A reported cost is
then what the environment would charge for these setpoints (the replay checks
that it does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from powergrid.optimization.exactness import soc_gap
from powergrid.optimization.model import Model
from powergrid.optimization.network import RadialNetwork
from powergrid.optimization.scenario import DayScenario

#: slack above this counts as a violated constraint
SLACK_TOL = 1e-6


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
    #: AC-feasibility correction (:mod:`.ac_correction`): re-solves it made, the hours
    #: whose taps it fixed at the replay's, the objective before it (the uncorrected
    #: plan's), and the voltage-violating agent-steps and total cost ($) of the last
    #: replay it ran (-1 / NaN: it did not run)
    ac_rounds: int = 0
    fixed_tap_hours: list[int] = field(default_factory=list)
    uncorrected_objective: float = float("nan")
    replay_violations: int = -1
    replay_cost: float = float("nan")

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
            "ac_rounds": self.ac_rounds, "fixed_tap_hours": self.fixed_tap_hours,
            "uncorrected_objective": self.uncorrected_objective,
            "replay_violations": self.replay_violations,
        }

    def to_policies(self, env: Any) -> dict[str, Any]:
        """One :class:`~powergrid.optimization.policy.OraclePolicy` per agent of ``env``."""
        from powergrid.optimization.policy import oracle_policies

        return oracle_policies(self, env)


def violations(model: Model, sc: DayScenario, rn: RadialNetwork, top: int = 20) -> list[str]:
    """Named constraints whose slack is non-zero, largest first."""
    found: list[tuple[float, str]] = []
    names = {"line": "line current limit", "shed": "power balance (load cannot be served)"}
    for key, (var, idx) in model.slacks.items():
        val = np.asarray(var.value)
        low = None
        if key == "voltage":  # one slack per bus: the side is where |V|² is
            w = np.asarray(model.W.value)[:, idx]
            low = w < 0.5 * (model.v_lo2 + model.v_hi2)
        for t, col in zip(*np.nonzero(val > SLACK_TOL), strict=True):
            where = (rn.branch_name(int(idx[col]), sc.net) if key == "line"
                     else rn.bus_name(int(idx[col]), sc.net))
            if low is not None:
                what = "voltage lower limit" if low[t, col] else "voltage upper limit"
            else:
                what = names[key]
            unit = {"line": "x I_max²", "shed": "of the bus's load"}.get(key, "pu² of |V|²")
            found.append((float(val[t, col]),
                          f"{what} at {where}, hour {t} (slack {val[t, col]:.3g} {unit})"))
    found.sort(key=lambda z: -z[0])
    out = [s for _, s in found[:top]]
    if len(found) > top:
        out.append(f"... and {len(found) - top} more")
    return out


def extract(model: Model, sc: DayScenario, rn: RadialNetwork, taps: np.ndarray, *,
             status: str, feasible: bool, solve_s: float, build_s: float, solver: str,
             solver_status: str, violations: list[str]) -> OracleResult:
    """The :class:`OracleResult` of ``model``'s current solution (NaN where none)."""
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
        soc_gap=soc_gap(model) if ok else {"max_abs": float("nan"), "max_rel": float("nan")},
        violations=violations, max_simultaneous_MW=max_sim,
        bus_names=net.bus.name.astype(str).tolist())


def _val(expr: Any, n: int, ok: bool) -> np.ndarray:
    if not ok or expr.value is None:
        return np.full(n, np.nan)
    return np.asarray(expr.value, dtype=float).reshape(-1).copy()


def _hourly_cost(model: Model, sc: DayScenario, ag: Any, sp: dict, ok: bool) -> np.ndarray:
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
