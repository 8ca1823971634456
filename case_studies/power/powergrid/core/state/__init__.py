"""Power-domain states."""

from powergrid.core.state.state import DeviceState, GridState

__all__ = ["DeviceState", "GridState"]
