"""Run policies in an environment and collect a tidy per-step record.

Used by the examples, the demo and the evaluation report, so that every number a
user sees was produced by the same loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class EpisodeRecord:
    """The rows of one episode, how long it took, and each agent's voltage band.

    ``summary()`` scores it with :mod:`powergrid.metrics` (the one definition of
    every metric), so a single episode and a whole evaluation agree.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    v_limits: dict[str, tuple[float, float]] = field(default_factory=dict)

    def total(self, key: str) -> float:
        return float(sum(r[key] for r in self.rows))

    def summary(self) -> dict[str, float]:
        from powergrid.metrics import episode_metrics

        m = episode_metrics(self.rows, self.v_limits)
        n = max(m["steps"], 1)
        return {
            **m,
            "steps_per_s": m["steps"] / self.seconds if self.seconds > 0 else float("nan"),
            "mean_cost_per_step": (m["total_cost"] / n) if self.rows else float("nan"),
        }


def run_episode(env: Any, policies: dict[str, Any], seed: int | None = None,
                options: dict | None = None, max_steps: int | None = None) -> EpisodeRecord:
    """One episode; one row per (step, agent) with cost, safety and device setpoints."""
    obs, _ = env.reset(seed=seed, options=options)
    for p in policies.values():
        p.reset(seed)
    rec = EpisodeRecord(v_limits={a: tuple(env.agent_dict[a].v_limits)
                                  for a in env.possible_agents})
    t0 = time.perf_counter()
    step = 0
    while env.agents:
        actions = {a: policies[a](obs[a]) for a in env.agents}
        obs, rewards, _, truncs, infos = env.step(actions)
        for a, info in infos.items():
            agent = env.agent_dict[a]
            row = {"step": step, "agent": a, "reward": rewards[a], **info}
            for dev_id, dev in agent.devices.items():
                if "electrical" in dev.state:
                    row[f"{dev_id}.p_MW"] = float(dev.state.electrical.p_MW)
                if "storage" in dev.state:
                    row[f"{dev_id}.soc"] = float(dev.state.storage.soc)
            row["vm_pu"] = agent.state.bus_voltages.vm_pu.copy()
            rec.rows.append(row)
        step += 1
        if max_steps is not None and step >= max_steps:
            break
    rec.seconds = time.perf_counter() - t0
    return rec


def measure_steps_per_s(config: dict[str, Any], steps: int = 300, seed: int = 0,
                        episode_steps: int = 96) -> dict[str, float]:
    """Env steps/s of ``MultiAgentMicrogrids(config)`` under seeded random actions.

    Shared by the demo and the benchmarks so they all measure the same thing:
    ``reset`` once (timed separately), then ``steps`` steps, resetting at episode ends.
    """
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    env = MultiAgentMicrogrids({**config, "max_episode_steps": episode_steps})
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    env.reset(seed=seed)
    reset_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        if not env.agents:
            env.reset()
        env.step({a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32)
                  for a in env.agents})
    elapsed = time.perf_counter() - t0
    env.close()
    return {"steps_per_s": steps / elapsed, "reset_ms": reset_s * 1e3,
            "step_ms": elapsed / steps * 1e3}
