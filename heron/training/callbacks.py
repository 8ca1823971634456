"""RLlib callback that turns HERON's per-step infos into training metrics.

HERON envs report ``infos[agent]["safety"]`` (constraint violation magnitude,
0 when safe) and domains usually add ``infos[agent]["cost"]``. Episode return
alone mixes both through the penalty weight; logging them separately is what
tells a practitioner whether a policy got cheaper or merely safer.

Imports ray: do not import from ``heron/__init__``.
"""

from __future__ import annotations

import math
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

#: Keys under ``result["env_runners"]``.
COST_KEY = "heron_episode_cost_mean"
SAFETY_KEY = "heron_episode_safety_mean"
VIOLATION_KEY = "heron_violation_rate"

_ACC = "_heron_acc"


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class SafetyMetricsCallback(RLlibCallback):
    """Per episode: total cost (sum over agents and steps), total safety, and the
    violation rate (fraction of agent-steps with ``safety > 0``).

    Accumulates in ``episode.custom_data`` on every step, because an episode can be
    cut into several chunks across ``sample()`` calls and ``custom_data`` is what
    RLlib carries over from one chunk to the next.
    """

    def on_episode_step(self, *, episode, **kwargs) -> None:
        acc = episode.custom_data.setdefault(_ACC, [0.0, 0.0, 0, 0])
        try:
            infos = episode.get_infos(-1)
        except Exception:  # an agent without info at this step: nothing to add
            return
        for info in (infos or {}).values():
            if not isinstance(info, dict):
                continue
            cost = _num(info.get("cost"))
            if cost is not None:
                acc[0] += cost
            safety = _num(info.get("safety"))
            if safety is not None:
                acc[1] += safety
                acc[2] += int(safety > 0.0)
                acc[3] += 1

    def on_episode_end(self, *, episode, env_runner=None, metrics_logger=None, **kwargs) -> None:
        if metrics_logger is None:
            return
        cost, safety, violations, n = episode.custom_data.get(_ACC, [0.0, 0.0, 0, 0])
        window = 100
        if env_runner is not None:
            cfg = env_runner.config
            window = max(1, math.ceil(cfg.metrics_num_episodes_for_smoothing
                                      / max(1, cfg.num_env_runners or 1)))
        metrics_logger.log_value(COST_KEY, cost, window=window)
        metrics_logger.log_value(SAFETY_KEY, safety, window=window)
        metrics_logger.log_value(VIOLATION_KEY, violations / n if n else 0.0, window=window)
