"""Validate an oracle solution by running its setpoints through the environment.

Why: the oracle optimises a relaxed, fixed-tap model; the environment solves the
full AC power flow with regulators that move. Replaying answers the only question
that matters for a benchmark: what do these setpoints *cost* in the environment,
and do they keep voltages within limits there?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from powergrid.optimization.oracle import OracleResult

#: replayed and optimised cost may differ by this much (relative) and still "agree"
COST_RTOL = 0.01


@dataclass
class ReplayResult:
    """Per-hour costs, voltages and taps of the replay, and how they compare."""

    cost_by_agent: dict[str, np.ndarray]  # (T,) $ per hour from infos[agent]['cost']
    import_MW: dict[str, np.ndarray]
    v_min: np.ndarray  # (T,) over all microgrid buses
    v_max: np.ndarray
    vm_pu: np.ndarray  # (T, n_bus) of the whole net (NaN if not converged)
    taps: np.ndarray  # (T, n_trafo) tap positions after the regulators settled
    soc: dict[str, np.ndarray]  # "agent/device" -> (T,) SOC after each step
    converged: np.ndarray  # (T,) bool
    safety: np.ndarray  # (T,) summed agent safety
    oracle_cost: float
    notes: list[str] = field(default_factory=list)
    #: per agent: (T,) lowest and highest voltage of its buses
    v_by_agent: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def total_cost(self) -> float:
        return float(sum(v.sum() for v in self.cost_by_agent.values()))

    @property
    def converged_all(self) -> bool:
        return bool(self.converged.all())

    @property
    def cost_rel_diff(self) -> float:
        """(replay - oracle) / |oracle|."""
        return (self.total_cost - self.oracle_cost) / max(abs(self.oracle_cost), 1e-9)

    @property
    def cost_agrees(self) -> bool:
        return abs(self.cost_rel_diff) <= COST_RTOL

    def voltages_within(self, v_min: float = 0.95, v_max: float = 1.05, tol: float = 1e-4) -> bool:
        return bool(np.all(self.v_min >= v_min - tol) and np.all(self.v_max <= v_max + tol))

    def voltage_violations(self, v_limits: dict[str, tuple[float, float]]) -> np.ndarray:
        """(T, n_agent) bool: agent-steps with a bus outside the agent's band, by the one
        definition (:func:`powergrid.metrics.voltage_violation_rate`); never for
        non-converged steps, as there."""
        from powergrid.metrics import voltage_violation_rate

        agents = list(self.v_by_agent)
        out = np.zeros((self.converged.size, len(agents)), dtype=bool)
        for k, a in enumerate(agents):
            lo, hi = self.v_by_agent[a]
            for t in range(self.converged.size):
                row = {"agent": a, "v_min": lo[t], "v_max": hi[t],
                       "converged": bool(self.converged[t])}
                out[t, k] = bool(row["converged"]) and voltage_violation_rate(
                    [row], v_limits) > 0
        return out

    def report(self) -> str:
        lines = [f"replay cost {self.total_cost:.2f} $ vs oracle {self.oracle_cost:.2f} $ "
                 f"({100 * self.cost_rel_diff:+.3f} %), converged {int(self.converged.sum())}/"
                 f"{self.converged.size} h, |V| in [{np.nanmin(self.v_min):.4f}, "
                 f"{np.nanmax(self.v_max):.4f}] pu"]
        lines += self.notes
        return "\n".join(lines)


def replay(env: Any, result: OracleResult, seed: int | None = 0) -> ReplayResult:
    """Run ``result``'s setpoints through ``env`` (same setup, split and day).

    ``env`` must be built from the same config with ``max_episode_steps >= horizon``
    (``powergrid.optimization.make_env`` does that). The episode is cut after the
    oracle's horizon.
    """
    if env.split != result.split:
        raise ValueError(f"env is on the {env.split!r} split, the oracle solved {result.split!r}.")
    if env.max_episode_steps < result.horizon:
        raise ValueError(f"env episodes have {env.max_episode_steps} steps, the oracle planned "
                         f"{result.horizon}.")
    T = result.horizon
    obs, _ = env.reset(seed=seed, options={"day": result.day})
    policies = result.to_policies(env)
    for p in policies.values():
        p.reset(seed)
    agents = list(env.possible_agents)
    cost = {a: np.full(T, np.nan) for a in agents}
    imp = {a: np.full(T, np.nan) for a in agents}
    soc: dict[str, np.ndarray] = {}
    for a in agents:
        for name, dev in env.agent_dict[a].devices.items():
            if "storage" in dev.state:
                soc[f"{a}/{name}"] = np.full(T, np.nan)
    v_min, v_max = np.full(T, np.nan), np.full(T, np.nan)
    v_by_agent = {a: (np.full(T, np.nan), np.full(T, np.nan)) for a in agents}
    vm = np.full((T, len(env.net.bus)), np.nan)
    taps = np.zeros((T, len(env.net.trafo)))
    converged = np.zeros(T, dtype=bool)
    safety = np.zeros(T)
    notes: list[str] = []
    for t in range(T):
        if not env.agents:
            notes.append(f"episode ended after {t} steps (power flow divergence truncates it).")
            break
        actions = {a: policies[a](obs[a]) for a in env.agents}
        obs, _, _, _, infos = env.step(actions)
        res = env.last_result
        converged[t] = bool(res.converged)
        vm[t] = res.vm_pu
        taps[t] = env.grid_model.tap_pos
        lo, hi = [], []
        for a in agents:
            info = infos[a]
            cost[a][t] = info["cost"]
            imp[a][t] = info["grid_import_MW"]
            safety[t] += info.get("safety", 0.0)
            lo.append(info["v_min"])
            hi.append(info["v_max"])
            v_by_agent[a][0][t], v_by_agent[a][1][t] = info["v_min"], info["v_max"]
            for name, dev in env.agent_dict[a].devices.items():
                if "storage" in dev.state:
                    soc[f"{a}/{name}"][t] = dev.state.storage.soc
        v_min[t], v_max[t] = min(lo), max(hi)
    if not converged.all():
        notes.append(f"power flow did not converge in hours {np.flatnonzero(~converged).tolist()}"
                     " (costs there include the environment's non-convergence handling).")
    rep = ReplayResult(cost_by_agent=cost, import_MW=imp, v_min=v_min, v_max=v_max, vm_pu=vm,
                       taps=taps, soc=soc, converged=converged, safety=safety,
                       oracle_cost=result.objective, notes=notes, v_by_agent=v_by_agent)
    if not rep.cost_agrees:
        worst = max(agents, key=lambda a: abs(np.nansum(cost[a]) - result.cost_by_agent[a].sum()))
        notes.append(f"cost differs by {100 * rep.cost_rel_diff:+.2f} % (largest in {worst}: "
                     f"import oracle {result.import_MW[worst].sum():.3f} MWh vs replay "
                     f"{np.nansum(imp[worst]):.3f} MWh).")
    return rep
