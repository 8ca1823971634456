"""Power-domain feature blocks."""

from powergrid.core.features.electrical import ElectricalBasePh
from powergrid.core.features.network import BusVoltages, GridExchange, LineFlows
from powergrid.core.features.power_limits import PowerLimits
from powergrid.core.features.renewable import RenewableAvailability
from powergrid.core.features.status import UnitStatus
from powergrid.core.features.storage import StorageBlock
from powergrid.core.features.tap_changer import TapChanger

__all__ = [
    "ElectricalBasePh",
    "StorageBlock",
    "BusVoltages",
    "LineFlows",
    "GridExchange",
    "PowerLimits",
    "TapChanger",
    "RenewableAvailability",
    "UnitStatus",
]
