"""Checks that a vector env's copies reproduce single envs, for tests of array maths.

Why public: a user who gives a device array maths
(:mod:`powergrid.envs.array_devices`) wants to prove that the vectorized env still
reproduces N single :class:`~powergrid.envs.multi_agent_microgrids.MultiAgentMicrogrids`;
the project's own equivalence tests use the same tolerances and the same check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["assert_copies_match", "close", "obs_tolerance"]


def close(a: Any, b: Any, atol: Any = 1e-6) -> bool:
    """Equal within 1e-6 relative and ``atol`` absolute (scalar or per entry)."""
    return bool(np.allclose(a, b, rtol=1e-6, atol=atol))


def obs_tolerance(env: Any, agent: str) -> np.ndarray:
    """Per-entry tolerance of ``agent``'s observation: 1e-6 in each entry's own unit.

    Line loadings are in % of rating, so 1e-6 of the rating is 1e-4 there: lightly
    loaded lines differ by more than 1e-6 % between the single env's Newton
    tolerance and the batched sweep's.
    """
    names = env.agent_dict[agent].observation_names()
    tol = np.array([1e-4 if "loading" in n else 1e-6 for n in names])
    dim = env.observation_space(agent).shape[0]
    return np.concatenate([tol, np.full(dim - tol.size, 1e-6)])


def assert_copies_match(venv: Any, obs: dict[str, np.ndarray], singles: Sequence[Any],
                        single_obs: Sequence[dict[str, np.ndarray]],
                        tol: dict[str, np.ndarray], step: int) -> None:
    """Copy ``i`` of ``venv`` shows ``singles[i]``'s observations (within ``tol``) and
    exactly its tap positions; the message names step, copy, agent and entry."""
    for i, single in enumerate(singles):
        for a in venv.possible_agents:
            where = int(np.abs(obs[a][i] - single_obs[i][a]).argmax())
            assert close(obs[a][i], single_obs[i][a], tol[a]), (
                f"step {step} copy {i} agent {a}: entry {where} is {obs[a][i][where]!r}, "
                f"the single env's {single_obs[i][a][where]!r}")
        np.testing.assert_array_equal(venv.tap_pos[i], single.grid_model.tap_pos,
                                      err_msg=f"step {step} copy {i}: taps")
