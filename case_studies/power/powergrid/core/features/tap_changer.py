"""On-load tap changer position (normalised so policies see a bounded value)."""

from dataclasses import dataclass

from heron.core.feature import FeatureBlock


@dataclass
class TapChanger(FeatureBlock):
    tap_pos: int = 0
    tap_min: int = -16
    tap_max: int = 16
    tap_step_percent: float = 0.625
