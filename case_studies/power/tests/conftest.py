"""Fixtures shared by the power case-study tests.

The Redis server fixtures come from :mod:`heron.testing.redis_service`, the same code
HERON's own suite uses (``tests/conftest.py`` cannot be imported from here under
``--import-mode=importlib``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from heron.testing.redis_service import (  # noqa: F401  (pytest fixtures, used by name)
    redis_server,
    redis_url,
    spare_redis_server,
)
from heron.testing.registry_scratch import scratch_registry  # noqa: F401  (a fixture)


@pytest.fixture
def hostile_pickle_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(config.yml, data.pkl, marker)``: a valid setup whose pickled dataset writes
    ``marker`` when it is unpickled, so a test can prove that a command did not unpickle it
    (marker absent) and that the payload is live (marker present after ``load_dataset``).
    """
    from powergrid.setups.loader import SETUPS_DIR

    marker = tmp_path / "unpickled.marker"

    class WritesMarker:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.write_text, (marker, "code in the pickle ran"))

    n = 48
    split = {"load": np.full(n, 0.5), "solar": np.zeros(n), "wind": np.full(n, 0.3),
             "price": np.full(n, 40.0)}
    data = tmp_path / "data.pkl"
    data.write_bytes(pickle.dumps({"train": {**split, "payload": WritesMarker()},
                                   "test": split}))
    cfg = yaml.safe_load((SETUPS_DIR / "single_microgrid" / "config.yml").read_text())
    cfg["dataset_path"] = "data.pkl"
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(cfg))
    return config, data, marker


# The user guide (BUILD_FROM_SCRATCH.md), Step 5.2 config.yml, verbatim: one copy for
# every test that loads it.
GUIDE_5_2_CONFIG_YML = """\
# config.yml
dataset_path: data.pkl
train: true
penalty: 10.0
share_reward: true
max_episode_steps: 96  # 4 days

dso_config:
  name: DSO
  network: ieee34
  load_area: BANC

microgrid_configs:
  - name: MG1
    connection_bus: "DSO Bus 850"
    base_power: 1.0
    load_scale: 0.1
    devices:
      - type: Generator
        name: gen1
        device_state_config:
          bus: "Bus 633"
          p_max_MW: 2.0
          p_min_MW: 0.5
          cost_curve_coefs: [0.02, 10.0, 0.0]

      - type: ESS
        name: ess1
        device_state_config:
          bus: "Bus 634"
          e_capacity_MWh: 5.0
          p_max_MW: 1.0
          p_min_MW: -1.0
          init_soc: 0.5

  - name: MG2
    connection_bus: "DSO Bus 860"
    devices:
      - type: Generator
        name: gen2
        device_state_config:
          bus: "Bus 633"
          p_max_MW: 1.5
          p_min_MW: 0.3

  - name: MG3
    connection_bus: "DSO Bus 890"
    devices:
      - type: ESS
        name: ess3
        device_state_config:
          bus: "Bus 680"
          e_capacity_MWh: 3.0
"""


@pytest.fixture(scope="session")
def guide_config_yml() -> str:
    """The guide's 5.2 ``config.yml`` text, verbatim (it points at ``data.pkl``)."""
    return GUIDE_5_2_CONFIG_YML


@pytest.fixture(scope="session")
def guide_wind_turbine() -> type:
    """The guide's Advanced Topic C ``WindTurbine`` recipe, as a user writes it."""
    from dataclasses import dataclass

    from gymnasium.spaces import Box

    from powergrid.agents.device_agent import DeviceAgent
    from powergrid.core.features.electrical import ElectricalBasePh

    @dataclass
    class WindTurbineConfig:
        """Configuration for wind turbine."""
        bus: str
        p_rated_MW: float = 2.0  # Rated power capacity

    class WindTurbine(DeviceAgent):
        """Wind turbine with curtailment control."""

        def __init__(self, agent_id: str, device_state_config: dict[str, Any], **kwargs):
            super().__init__(agent_id=agent_id, device_state_config=device_state_config,
                             **kwargs)
            self.config = WindTurbineConfig(**device_state_config)
            self.state.add_feature('electrical', ElectricalBasePh())
            self.available_power = 0.0  # Set by environment based on wind forecast

        def get_action_space(self):
            return Box(low=0.0, high=1.0, shape=(1,), dtype=np.float32)

        def set_device_action(self, action):
            curtailment_factor = action[0]
            self.state.electrical.p_MW = self.available_power * curtailment_factor

        def update_cost_safety(self):
            curtailed = self.available_power - self.state.electrical.p_MW
            self.cost = curtailed * 5.0  # $5/MWh opportunity cost for curtailment
            self.safety = 0.0

    return WindTurbine
