"""Network-level features observed by grid agents."""

from dataclasses import dataclass, field

import numpy as np

from heron.core.feature import FeatureBlock


@dataclass
class BusVoltages(FeatureBlock):
    """Voltage magnitudes of the agent's own buses; extremes are what safety depends on."""

    visibility = "upper_level"
    vm_pu: np.ndarray = field(default_factory=lambda: np.array([1.0]))
    v_min: float = 1.0
    v_max: float = 1.0


@dataclass
class LineFlows(FeatureBlock):
    visibility = "upper_level"
    p_MW: np.ndarray = field(default_factory=lambda: np.array([0.0]))
    loading_pct: np.ndarray = field(default_factory=lambda: np.array([0.0]))
    max_loading: float = 0.0


@dataclass
class GridExchange(FeatureBlock):
    """What a microgrid buys from (positive) or sells to the DSO, and the price it sees.

    Time of day is included because prices and load are strongly diurnal; without it
    a memoryless policy cannot tell 6 am from 6 pm.
    """

    p_import_MW: float = 0.0
    total_load_MW: float = 0.0
    price: float = 0.0
    hour_sin: float = 0.0
    hour_cos: float = 1.0
