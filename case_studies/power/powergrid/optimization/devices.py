"""The controllable devices in the DistFlow model: their limits and their costs.

They are modelled exactly as the environment prices them, because the optimisers'
costs must be the environment's ``agent.cost`` (:mod:`.result` evaluates that
cost at the solution):

* generators: ``a P² + b P + c`` per hour, P/Q limits, the capability circle
  ``P² + Q² <= S²``; a unit the environment commits late is off for its first
  hours (:attr:`~.scenario.DeviceSpec.off_hours`), then pays its start-up cost;
* batteries: separate ``p_ch, p_dis >= 0`` with efficiencies, SOC limits and a
  throughput degradation cost. The terminal SOC is free, because the environment
  values no energy left at the end. ``ess_fix`` fixes the direction per hour, and
  ``integer`` decides it with binaries (see :mod:`.solving` for why). With
  ``ModelInputs.energy_reset`` an hour can start from any energy within the limits
  (the MPC's plan past the episode's end);
* renewables: up to the available power, with curtailment priced per MWh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from powergrid.optimization.scenario import DayScenario, UnsupportedSetupError

Key = tuple[str, str]  # (agent, device)
#: MWh a battery's energy may jump in an hour without an energy reset (see device_model)
RESET_SLACK_MWH = 1e-6


@dataclass
class DeviceModel:
    """The devices' variables, constraints and per-agent costs over the horizon."""

    p: dict[Key, cp.Expression]  # MW, grid side (generator convention)
    q: dict[Key, cp.Expression]  # MVAr
    ess: dict[Key, tuple[cp.Variable, cp.Variable, cp.Variable]]  # p_ch, p_dis, energy
    cost: dict[str, Any]  # agent -> $ over the horizon
    constraints: list[cp.Constraint] = field(default_factory=list)
    binaries: list[cp.Variable] = field(default_factory=list)


def total(x: Any) -> Any:
    """Sum of a constant array (a float) or of a Parameter (an expression)."""
    return cp.sum(x) if isinstance(x, cp.Expression) else float(np.sum(x))


def device_model(sc: DayScenario, Pg: cp.Variable | None, Qg: cp.Variable | None, *,
                 integer: bool, ess_fix: dict[Key, np.ndarray] | None = None,
                 inputs: Any = None) -> DeviceModel:
    """Limits and costs of every non-transformer device of ``sc``.

    Column ``k`` of ``Pg`` / ``Qg`` is the ``k``-th such device of ``sc.devices``.
    ``inputs`` (:class:`~.model.ModelInputs`) makes the renewables' availability and
    the batteries' initial energy Parameters.
    """
    T, dt = sc.horizon, sc.dt
    devs = [d for d in sc.devices if d.kind != "transformer"]
    out = DeviceModel(p={}, q={}, ess={}, cost={ag.name: 0 for ag in sc.agents})
    cons = out.constraints
    for k, d in enumerate(devs):
        key = (d.agent, d.name)
        p, q = Pg[:, k], Qg[:, k]
        out.p[key], out.q[key] = p, q
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
            out.cost[d.agent] = out.cost[d.agent] + dt * (
                a2 * cp.sum_squares(p) + b1 * cp.sum(p) + c0 * float(on.sum())) + d.startup_cost
        elif d.kind == "ess":
            p_ch = cp.Variable(T, nonneg=True, name=f"{d.agent}.{d.name}.p_ch")
            p_dis = cp.Variable(T, nonneg=True, name=f"{d.agent}.{d.name}.p_dis")
            e = cp.Variable(T + 1, name=f"{d.agent}.{d.name}.e")
            cap = float(c.e_capacity_MWh)
            stored = e[:-1]
            reset = None if inputs is None else inputs.energy_reset
            if reset is not None:
                # where reset is 1 the hour starts from any energy (a jump of up to the
                # capacity), so nothing carries across (the MPC's episode end, see .mpc).
                # The parameter bounds the jump (the right-hand side) rather than scaling
                # it (the matrix), so each re-solve only updates vectors. The jump's room
                # of RESET_SLACK_MWH where reset is 0 keeps the problem strictly feasible
                # for the interior-point solver (worth < 1e-3 $)
                jump = cp.Variable(T, name=f"{d.agent}.{d.name}.energy_jump")
                stored = stored + jump
                room = cap * reset + RESET_SLACK_MWH
                cons += [jump >= -room, jump <= room]
            cons += [p == p_dis - p_ch, p_ch <= -float(c.p_min_MW), p_dis <= float(c.p_max_MW),
                     e[0] == (c.init_soc * cap if inputs is None else inputs.e0[key]),
                     e[1:] == stored + dt * (c.ch_eff * p_ch - p_dis / c.dsc_eff),
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
                out.binaries.append(u)
                cons += [p_ch <= -float(c.p_min_MW) * u, p_dis <= float(c.p_max_MW) * (1 - u)]
            out.ess[key] = (p_ch, p_dis, e)
            out.cost[d.agent] = out.cost[d.agent] + dt * float(c.degradation_cost_per_MWh) * (
                cp.sum(p_ch) + cp.sum(p_dis))
        elif d.kind == "renewable":
            avail = sc.available[key] if inputs is None else inputs.available[key]
            cons += [p >= 0, p <= avail]
            if c.pf_min < 1.0:
                tan_phi = float(np.tan(np.arccos(c.pf_min)))
                cons += [cp.abs(q) <= tan_phi * p]
            else:
                cons += [q == 0]
            out.cost[d.agent] = out.cost[d.agent] + dt * float(c.curtailment_cost_per_MWh) * (
                total(avail) - cp.sum(p))
        else:  # pragma: no cover - scenario_from_env rejects other kinds
            raise UnsupportedSetupError(f"device {d.agent}/{d.name}: kind {d.kind!r} is not "
                                        "modelled (generator, ess, renewable, transformer are).")
    return out
