"""The inverse of the devices' linear action maps, in one place.

Every device maps a normalised action ``a`` in [-1, 1] linearly onto a range,
``x = lo + (a + 1) / 2 * (hi - lo)``. Baselines, the oracle's replay and MPC need the
other direction (which action gives this setpoint?); each device's
``action_for`` uses :func:`to_unit` so that nobody re-derives it.
"""

from __future__ import annotations

import numpy as np


def to_unit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Inverse of ``lo + (a + 1) / 2 * (hi - lo)``, clipped to [-1, 1] (0 if ``lo == hi``)."""
    span = hi - lo
    if span <= 0:
        return np.zeros_like(np.asarray(x, dtype=float))
    return np.clip(2.0 * (np.asarray(x, dtype=float) - lo) / span - 1.0, -1.0, 1.0)
