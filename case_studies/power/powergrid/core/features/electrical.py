"""Electrical operating point of a device (positive-sequence, balanced)."""

from dataclasses import dataclass

from heron.core.feature import FeatureBlock


@dataclass
class ElectricalBasePh(FeatureBlock):
    """P/Q injection (generator convention: positive = into the grid) and terminal voltage."""

    p_MW: float = 0.0
    q_MVAr: float = 0.0
    v_pu: float = 1.0
    va_deg: float = 0.0
