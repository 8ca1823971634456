import numpy as np
import pytest

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup


def config(p2p: bool):
    cfg = load_setup("ieee34_ieee13")
    cfg.update({"train": False, "max_episode_steps": 8, "share_reward": False})
    for mg in cfg["microgrid_configs"]:
        mg["sell_price_ratio"] = 0.5
    if p2p:
        cfg["protocol"] = "p2p"
    return cfg


def test_protocol_selected_from_config_adds_price_action():
    env = MultiAgentMicrogrids(config(True))
    base = MultiAgentMicrogrids(config(False))
    for a in env.possible_agents:
        assert env.action_space(a).shape[0] == base.action_space(a).shape[0] + 1


def test_money_conserved_and_total_cost_never_higher():
    env, base = MultiAgentMicrogrids(config(True)), MultiAgentMicrogrids(config(False))
    rng = np.random.default_rng(0)
    env.reset(seed=0, options={"day": 2})
    base.reset(seed=0, options={"day": 2})
    traded = 0.0
    for _ in range(8):
        acts = {a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.possible_agents}
        _, _, _, _, inf = env.step(acts)
        _, _, _, _, inf0 = base.step({a: v[:-1] for a, v in acts.items()})
        assert sum(i["p2p_payment"] for i in inf.values()) == pytest.approx(0.0, abs=1e-9)
        assert sum(i["p2p_traded_MW"] for i in inf.values()) == pytest.approx(0.0, abs=1e-9)
        # same physics: identical voltages and PCC exchange
        for a in inf:
            assert inf[a]["grid_import_MW"] == pytest.approx(inf0[a]["grid_import_MW"])
            # no trade beyond what physically flowed through the PCC
            assert abs(inf[a]["p2p_traded_MW"]) <= abs(inf[a]["grid_import_MW"]) + 1e-9
        assert sum(i["cost"] for i in inf.values()) <= sum(i["cost"] for i in inf0.values()) + 1e-9
        traded += sum(max(0, i["p2p_traded_MW"]) for i in inf.values())
    assert traded > 0


def test_wrong_action_length_is_explained():
    env = MultiAgentMicrogrids(config(True))
    env.reset(seed=0)
    # the message names the agent and the layout: device setpoints, then one price
    with pytest.raises(ValueError, match=r"'MG1'.*has 2 values.*gen1: 2, ess1: 1, price: 1"):
        env.step({a: np.zeros(2) for a in env.agents})


def test_unknown_protocol_lists_choices():
    cfg = config(False)
    cfg["protocol"] = "telepathy"
    with pytest.raises(ValueError, match="p2p"):
        MultiAgentMicrogrids(cfg)


def test_no_price_spread_means_no_trades():
    cfg = config(True)
    for mg in cfg["microgrid_configs"]:
        mg["sell_price_ratio"] = 1.0
    env = MultiAgentMicrogrids(cfg)
    env.reset(seed=0)
    _, _, _, _, inf = env.step({a: env.action_space(a).sample() for a in env.agents})
    assert all(i["p2p_traded_MW"] == 0.0 for i in inf.values())
