"""GridAgent: the simulator-independent part of a grid coordinator, and what it observes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from gymnasium.spaces import Box

from heron.agents.coordinator_agent import CoordinatorAgent
from powergrid.agents import ESS, Generator, GridAgent
from powergrid.agents import power_grid_agent as pga
from powergrid.networks import get_network

GEN = {"bus": "Bus 633", "p_max_MW": 0.5, "p_min_MW": 0.1, "q_max_MVAr": 0.3,
       "q_min_MVAr": -0.3, "s_rated_MVA": 0.6}
ESS_CFG = {"bus": "Bus 634", "e_capacity_MWh": 1.0, "p_max_MW": 0.2, "p_min_MW": -0.2}


def _grid(gen_cfg: dict | None = None) -> pga.PowerGridAgent:
    cfg = {"name": "MG1", "load_scale": 0.1, "devices": [
        {"type": "Generator", "name": "gen1", "device_state_config": dict(gen_cfg or GEN)},
        {"type": "ESS", "name": "ess1", "device_state_config": dict(ESS_CFG)},
    ]}
    return pga.PowerGridAgent(net=get_network("ieee13", name="MG1"), grid_config=cfg)


def test_class_tree_matches_the_guide():
    assert issubclass(GridAgent, CoordinatorAgent)
    assert issubclass(pga.PowerGridAgent, GridAgent)
    assert pga.GridAgent is GridAgent  # also importable from the pandapower module


def test_grid_agent_does_not_import_pandapower():
    code = ("import sys; from powergrid.agents import GridAgent; "
            "assert 'pandapower' not in sys.modules, 'pandapower imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_grid_agent_works_without_a_network():
    """Devices, spaces, labels and cost/safety aggregation on heron + devices alone."""
    gen = Generator("gen1", dict(GEN))
    ess = ESS("ess1", dict(ESS_CFG))
    grid = GridAgent("G", subordinate_agents={"gen1": gen, "ess1": ess})
    assert list(grid.devices) == ["gen1", "ess1"]
    flat = grid.get_flat_action_space()
    assert isinstance(flat, Box) and flat.shape == (3,)
    assert set(grid.get_action_space().spaces) == {"gen1", "ess1"}
    assert len(grid.observation_names()) == grid.get_observation().size
    assert grid.observation_names()[0] == "gen1.electrical.p_MW"

    grid.coordinate(np.array([1.0, 0.0, 1.0], dtype=np.float32))  # full P, discharge
    grid.update_cost_safety()
    assert grid.cost == pytest.approx(gen.cost + ess.cost) and gen.cost > 0 and ess.cost > 0
    gen.state.electrical.p_MW = 0.9               # above p_max: a device violation
    grid.update_cost_safety()
    assert grid.safety == pytest.approx(gen.safety + ess.safety) and grid.safety > 0
    grid.reset()
    assert grid.cost == grid.safety == 0.0


def test_power_grid_agent_adds_network_terms_to_the_device_totals():
    grid = _grid()
    grid.add_dataset({"load": np.array([1.0]), "price": np.array([40.0])})
    grid.step(np.array([1.0, 0.0, 0.0], dtype=np.float32))
    devices_cost = sum(d.cost for d in grid.devices.values())
    assert grid.converged and grid.grid_cost != 0.0
    assert grid.cost == pytest.approx(devices_cost + grid.grid_cost)
    assert len(grid.observation_names()) == grid.get_observation().size


def test_stand_alone_step_walks_the_dataset_and_validates_its_action():
    """The guide's Step 3 API: each series cycles with its own length, absent ones are
    0, and step() validates its raw action (it may come from anywhere)."""
    from heron.core.action import ActionError
    from powergrid.agents.device_agent import ConfigError

    grid = _grid()
    grid.add_dataset({"load": [1.0, 0.5], "price": [40.0, 60.0, 80.0]})
    seen = []
    for _ in range(4):
        grid.step(np.array([2.0, 0.0, 0.0]))  # out of range: clipped to full P
        ex = grid.state.exchange
        seen.append((ex.price, ex.total_load_MW))
        assert grid.devices["gen1"].state.electrical.p_MW == pytest.approx(GEN["p_max_MW"])
    assert [p for p, _ in seen] == [40.0, 60.0, 80.0, 40.0]
    assert seen[0][1] == pytest.approx(2 * seen[1][1]) and seen[2][1] == seen[0][1]
    with pytest.raises(ActionError, match="NaN"):
        grid.step(np.array([np.nan, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="'load' series is required"):
        grid.add_dataset({"price": [40.0]})
    with pytest.raises(ConfigError, match=r"unknown series \['Load'\]"):
        grid.add_dataset({"Load": [1.0]})
    with pytest.raises(ConfigError, match="finite"):
        grid.add_dataset({"load": [1.0, float("nan")]})


def test_generator_status_is_observed_only_with_commitment():
    plain = _grid().observation_names()
    assert not any(".status." in n for n in plain)
    committed = _grid({**GEN, "allow_commitment": True}).observation_names()
    assert {"gen1.status.on", "gen1.status.hours_in_state"} <= set(committed)
    assert len(committed) == len(plain) + 2
    grid = _grid({**GEN, "allow_commitment": True})
    assert grid.get_observation().size == len(committed)
    assert grid.get_flat_action_space().shape == (4,)   # p, q, on + the ESS


def test_the_doc_says_when_status_is_observed():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[4] / "docs" / "power_case_study.md").read_text()
    why = [p for p in doc.split("\n\n")
           if "`status.on`" in p and "allow_commitment" in p and "constant" in p]
    assert why, "power_case_study.md must say why status is observed only with commitment"
