"""Available renewable power this hour (from the dataset) before curtailment."""

from dataclasses import dataclass

from heron.core.feature import FeatureBlock


@dataclass
class RenewableAvailability(FeatureBlock):
    p_available_MW: float = 0.0
    p_rated_MW: float = 1.0
