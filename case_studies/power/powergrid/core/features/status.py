"""Commitment status of a thermal unit, with its start-up/shut-down progress."""

from dataclasses import dataclass

from heron.core.feature import FeatureBlock


@dataclass
class UnitStatus(FeatureBlock):
    on: float = 1.0  # 1 = online, 0 = offline (float so it flattens naturally)
    hours_in_state: float = 0.0
