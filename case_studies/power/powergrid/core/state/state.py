"""States of devices and grids: thin, named specialisations of heron's State.

They exist so that user code and type hints say what kind of state they hold; the
behaviour (visibility, flattening, reset) is heron's.
"""

from heron.agents.base import COORDINATOR_LEVEL, FIELD_LEVEL
from heron.core.state import State


class DeviceState(State):
    def __init__(self, owner_id: str = "", owner_level: int = FIELD_LEVEL) -> None:
        super().__init__(owner_id=owner_id, owner_level=owner_level)


class GridState(State):
    def __init__(self, owner_id: str = "", owner_level: int = COORDINATOR_LEVEL) -> None:
        super().__init__(owner_id=owner_id, owner_level=owner_level)
