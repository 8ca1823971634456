"""Operating envelope of a dispatchable unit."""

from dataclasses import dataclass

from heron.core.feature import FeatureBlock


@dataclass
class PowerLimits(FeatureBlock):
    p_max_MW: float = 1.0
    p_min_MW: float = 0.0
    q_max_MVAr: float = 0.5
    q_min_MVAr: float = -0.5
