"""Storage state. SOC is the observable; the rest lets a policy reason about headroom."""

from dataclasses import dataclass

from heron.core.feature import FeatureBlock


@dataclass
class StorageBlock(FeatureBlock):
    soc: float = 0.5
    e_capacity_MWh: float = 1.0
    e_stored_MWh: float = 0.5
    ch_eff: float = 0.95
    dsc_eff: float = 0.95
