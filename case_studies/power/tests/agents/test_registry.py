"""DEVICE_REGISTRY warns when a device type name is given to another class."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from powergrid.agents import DEVICE_REGISTRY, DeviceRegistry, DeviceRegistryWarning
from powergrid.agents import WindTurbine as BuiltinWindTurbine


@pytest.fixture
def registry_snapshot():
    """Restore the process-wide registry after a test (without going through the warning)."""
    saved = dict(DEVICE_REGISTRY)
    yield DEVICE_REGISTRY
    dict.clear(DEVICE_REGISTRY)
    dict.update(DEVICE_REGISTRY, saved)


def test_guide_wind_turbine_recipe_works_and_warns(registry_snapshot):
    # ---- the user guide's Advanced C recipe, as a user pastes it ----------------------
    from dataclasses import dataclass
    from typing import Any, Dict  # noqa: UP035 (the guide's code, verbatim)

    from gymnasium.spaces import Box

    from powergrid.agents.device_agent import DeviceAgent
    from powergrid.agents.power_grid_agent import DEVICE_REGISTRY
    from powergrid.core.features.electrical import ElectricalBasePh

    @dataclass
    class WindTurbineConfig:
        """Configuration for wind turbine."""
        bus: str
        p_rated_MW: float = 2.0  # Rated power capacity

    class WindTurbine(DeviceAgent):
        """Wind turbine with curtailment control."""

        def __init__(self, agent_id: str, device_state_config: Dict[str, Any], **kwargs):  # noqa: UP006
            super().__init__(agent_id=agent_id, device_state_config=device_state_config,
                             **kwargs)
            self.config = WindTurbineConfig(**device_state_config)
            self.state.add_feature('electrical', ElectricalBasePh())
            self.available_power = 0.0  # Set by environment based on wind forecast

        def get_action_space(self):
            # Curtailment factor [0, 1]: 0 = full curtailment, 1 = no curtailment
            return Box(low=0.0, high=1.0, shape=(1,), dtype=np.float32)

        def set_device_action(self, action):
            curtailment_factor = action[0]
            self.state.electrical.p_MW = self.available_power * curtailment_factor

        def update_cost_safety(self):
            curtailed = self.available_power - self.state.electrical.p_MW
            self.cost = curtailed * 5.0  # $5/MWh opportunity cost for curtailment
            self.safety = 0.0

    # Register in device registry
    with pytest.warns(DeviceRegistryWarning) as record:
        DEVICE_REGISTRY['WindTurbine'] = WindTurbine
    # -------------------------------------------------------------------------------------
    assert len(record) == 1
    message = str(record[0].message)
    assert "powergrid.agents.renewables.WindTurbine" in message          # the old class
    assert f"{__name__}.{WindTurbine.__qualname__}" in message          # the new one
    assert "MyWindTurbine" in message                                   # the way out
    assert record[0].filename == __file__    # points at the user's line, not the registry
    assert issubclass(DeviceRegistryWarning, UserWarning)

    # it took effect: a config with type: WindTurbine now builds the recipe's class
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    env = MultiAgentMicrogrids({"train": False, "max_episode_steps": 2, "microgrid_configs": [{
        "name": "MG1", "load_scale": 0.3, "devices": [
            {"type": "WindTurbine", "name": "wt1",
             "device_state_config": {"bus": "Bus 680", "p_rated_MW": 0.8}}]}]})
    env.reset(seed=0)
    wt = env.agent_dict["MG1"].devices["wt1"]
    assert type(wt) is WindTurbine
    env.step({"MG1": np.array([0.5], dtype=np.float32)})
    assert wt.state.electrical.p_MW == pytest.approx(0.5 * wt.available_power)


def test_same_class_again_and_new_names_are_silent(registry_snapshot):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry_snapshot["WindTurbine"] = BuiltinWindTurbine
        registry_snapshot["GuideWindTurbine"] = BuiltinWindTurbine
    assert registry_snapshot["GuideWindTurbine"] is BuiltinWindTurbine


def test_update_warns_like_item_assignment():
    reg = DeviceRegistry({"A": int})
    with pytest.warns(DeviceRegistryWarning, match=r"replacing builtins\.int with builtins\.float"):
        reg.update({"A": float}, B=str)
    assert reg == {"A": float, "B": str}


def test_redefined_class_of_the_same_name_is_called_out():
    def define():
        class Dev:
            pass
        return Dev

    reg = DeviceRegistry()
    reg["Dev"] = define()
    with pytest.warns(DeviceRegistryWarning, match="another class object of the same name"):
        reg["Dev"] = define()
