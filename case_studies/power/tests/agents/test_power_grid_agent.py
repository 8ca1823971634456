import numpy as np
import pytest

from powergrid.agents import ConfigError
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup


@pytest.fixture(scope="module")
def env():
    cfg = load_setup("ieee34_ieee13")
    cfg["max_episode_steps"] = 4
    return MultiAgentMicrogrids(cfg)


def test_same_bus_name_resolves_inside_each_microgrid(env):
    net = env.net
    gen1 = env.agent_dict["MG1"].devices["gen1"]
    gen2 = env.agent_dict["MG2"].devices["gen2"]
    b1, b2 = net.sgen.bus[gen1.pp_idx], net.sgen.bus[gen2.pp_idx]
    assert b1 != b2  # both configs say "Bus 633"
    assert net.bus.name[b1] == "MG1 Bus 633" and net.bus.name[b2] == "MG2 Bus 633"


def test_devices_are_added_as_sgen_and_storage(env):
    net = env.net
    assert set(net.sgen.name) >= {"MG1/gen1", "MG2/gen2"}
    assert set(net.storage.name) == {"MG1/ess1", "MG3/ess3"}


def test_generator_setpoint_reaches_the_network(env):
    env.reset(seed=0)
    env.step({"MG1": np.array([1.0, -1.0, 0.0]), "MG2": np.zeros(2), "MG3": np.zeros(1)})
    gen1 = env.agent_dict["MG1"].devices["gen1"]
    row = env.grid_model.sgen_pos[gen1.pp_idx]
    assert env.grid_model.sgen_p[row] == pytest.approx(2.0)
    # storage uses pandapower's load convention: discharge (+ into grid) is negative p_mw
    ess1 = env.agent_dict["MG1"].devices["ess1"]
    srow = env.grid_model.storage_pos[ess1.pp_idx]
    assert env.grid_model.storage_p[srow] == pytest.approx(-ess1.state.electrical.p_MW)


def test_unknown_bus_lists_valid_names():
    cfg = load_setup("ieee34_ieee13", validate=False)
    cfg["microgrid_configs"][0]["devices"][0]["device_state_config"]["bus"] = "Bus 999"
    with pytest.raises(ConfigError, match=r"Bus 'Bus 999' not found in grid 'MG1'.*MG1 Bus 633"):
        MultiAgentMicrogrids(cfg)


def test_safety_counts_voltage_and_line_violations(env):
    env.reset(seed=0)
    agent = env.agent_dict["MG1"]
    agent.state.bus_voltages.vm_pu = np.array([0.90, 1.0, 1.10])
    agent.state.line_flows.loading_pct = np.array([150.0])
    agent.converged = True
    for d in agent.devices.values():
        d.update_cost_safety = lambda: None
        d.safety = 0.0
        d.cost = 0.0
    agent.update_cost_safety()
    assert agent.safety == pytest.approx(0.05 + 0.05 + 0.5)


def test_observation_is_the_coordinators_in_one_pass(env):
    """PowerGridAgent.observe flattens all blocks at once; it must be exactly what
    CoordinatorAgent.observe builds state by state, and defer to it for a state with
    its own flattening."""
    from heron.agents.coordinator_agent import CoordinatorAgent
    from heron.core.state import State

    env.reset(seed=3)
    rng = np.random.default_rng(3)
    env.step({a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents})
    for agent in env.agent_dict.values():
        got, ref = agent.observe(), CoordinatorAgent.observe(agent)
        assert got.dtype == np.float32 and np.array_equal(got, ref)

    class Doubled(State):
        def to_array(self, relation: str = "owner") -> np.ndarray:
            return 2 * super().to_array(relation)

    agent = env.agent_dict["MG1"]
    own = agent.state
    agent.state = Doubled(owner_id=own.owner_id)
    try:
        for name, block in own.items():
            agent.state.add_feature(name, block)
        assert np.array_equal(agent.observe(), CoordinatorAgent.observe(agent))
    finally:
        agent.state = own
