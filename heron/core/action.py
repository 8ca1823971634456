"""Action validation shared by every agent.

RL libraries occasionally emit NaN (a diverged network) or values a little outside
the box (Gaussian sampling). NaN must fail loudly because it would otherwise poison
a power flow silently; mild out-of-range values are clipped, as every simulator does.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


class ActionError(ValueError):
    """An action has the wrong shape or holds NaN/inf."""


def validate_box_action(action, space: spaces.Box, who: str) -> np.ndarray:
    arr = np.asarray(action, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.shape != space.shape:
        if arr.size == int(np.prod(space.shape)):
            arr = arr.reshape(space.shape)
        else:
            raise ActionError(
                f"Action for {who!r} has shape {arr.shape}, expected {space.shape} "
                f"(action space {space})."
            )
    if not np.isfinite(arr).all():
        raise ActionError(
            f"Action for {who!r} contains NaN or inf: {arr.tolist()}. "
            "Check the policy output (a diverged network produces NaN)."
        )
    return np.minimum(np.maximum(arr, space.low), space.high)
