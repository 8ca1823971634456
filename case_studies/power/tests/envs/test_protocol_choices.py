"""The env's accepted ``protocol:`` names are written once (powergrid.envs.protocols)
and the env, the setup schema and the training CLI all agree on them."""

import numpy as np
import pytest

from heron.protocols import (
    VERTICAL,
    HorizontalProtocol,
    Protocol,
    protocol_names,
    register_protocol,
)
from powergrid.agents.device_agent import ConfigError
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.envs.protocols import MARKET_PROTOCOL, accepted_protocols
from powergrid.setups.loader import load_setup, validate_config
from powergrid.training import env_config_for, parse_config


def single(protocol):
    cfg = load_setup("single_microgrid")
    cfg.update({"train": False, "max_episode_steps": 2, "protocol": protocol})
    return cfg


def schema_problems(protocol):
    return [p for p in validate_config(single(protocol)) if p.startswith("protocol")]


def test_accepted_names_are_the_vertical_protocols_plus_the_market():
    names = accepted_protocols()
    assert names == sorted(names)
    assert {"setpoint", "price_signal", MARKET_PROTOCOL} <= set(names)
    assert MARKET_PROTOCOL == "p2p"
    assert "consensus" not in names
    assert set(names) == set(protocol_names(kind=VERTICAL)) | {"p2p"}


@pytest.mark.parametrize("name", ["setpoint", "price_signal", "p2p"])
def test_each_accepted_name_passes_all_three_checks(name):
    assert schema_problems(name) == []
    assert env_config_for(parse_config(["--protocol", name]))["protocol"] == name
    env = MultiAgentMicrogrids(single(name))
    env.reset(seed=0)
    env.step({a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents})


def test_consensus_is_refused_everywhere_with_the_valid_choices():
    valid = accepted_protocols()
    with pytest.raises(ConfigError) as info:
        MultiAgentMicrogrids(single("consensus"))
    msg = str(info.value)
    assert "ConsensusProtocol" in msg and "horizontal" in msg and "cannot dispatch" in msg
    assert str(valid) in msg
    (problem,) = schema_problems("consensus")
    assert str(valid) in problem
    with pytest.raises(SystemExit, match=r"unknown --protocol 'consensus'; choose one of "
                                         + str(valid).replace("[", r"\[").replace("]", r"\]")):
        env_config_for(parse_config(["--protocol", "consensus"]))


def test_unknown_name_lists_the_valid_choices():
    with pytest.raises(ConfigError, match=r"Unknown protocol 'telepathy'; choose one of "
                                          r"\[.*'p2p'.*'setpoint'.*\]"):
        MultiAgentMicrogrids(single("telepathy"))


def test_a_registered_vertical_protocol_is_accepted_everywhere(scratch_registry):
    class AllMax(Protocol):  # the guide's style: subclass Protocol, implement coordinate
        name = "all_max"

        def coordinate(self, coordinator_action, subordinates):
            return {sid: np.ones(dev.get_action_space().shape, np.float32)
                    for sid, dev in subordinates.items()}

    class Rumour(HorizontalProtocol):
        name = "rumour"

        def exchange(self, messages):
            return messages

    register_protocol("all_max", AllMax)
    register_protocol("rumour", Rumour)
    assert "all_max" in accepted_protocols() and "rumour" not in accepted_protocols()
    assert schema_problems("all_max") == []
    assert env_config_for(parse_config(["--protocol", "all_max"]))["protocol"] == "all_max"
    env = MultiAgentMicrogrids(single("all_max"))
    assert isinstance(env.agent_dict["MG1"].protocol, AllMax)

    assert schema_problems("rumour") != []
    with pytest.raises(SystemExit, match="unknown --protocol 'rumour'"):
        env_config_for(parse_config(["--protocol", "rumour"]))
    with pytest.raises(ConfigError, match=r"'rumour' \(Rumour\) is a horizontal protocol"):
        MultiAgentMicrogrids(single("rumour"))
