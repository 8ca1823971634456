import pickle

import numpy as np
import pytest
import yaml

from powergrid.agents.device_agent import ConfigError
from powergrid.setups.loader import get_available_setups, load_setup, validate_config


def test_available_setups():
    assert {"ieee34_ieee13", "ieee123_5mg", "single_microgrid"} <= set(get_available_setups())


def test_guide_setup_contents():
    cfg = load_setup("ieee34_ieee13")
    assert [m["name"] for m in cfg["microgrid_configs"]] == ["MG1", "MG2", "MG3"]
    assert cfg["dso_config"]["network"] == "ieee34"
    types = [d["type"] for m in cfg["microgrid_configs"] for d in m["devices"]]
    assert types.count("Generator") == 2 and types.count("ESS") == 2


def test_unknown_setup():
    with pytest.raises(ValueError, match="not found. Available"):
        load_setup("nope")


def write(tmp_path, cfg):
    p = tmp_path / "config.yml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def base():
    return yaml.safe_load(open(load_setup.__globals__["SETUPS_DIR"] / "ieee34_ieee13" / "config.yml"))


@pytest.mark.parametrize("mutate,match", [
    (lambda c: c["microgrid_configs"][0]["devices"][0].update(type="Nuclear"), "unknown device type 'Nuclear'"),
    (lambda c: c["microgrid_configs"][0]["devices"][0]["device_state_config"].update(bus="Bus 999"), "bus 'Bus 999' does not exist"),
    (lambda c: c["microgrid_configs"][0]["devices"][1]["device_state_config"].update(e_capacity_MWh=-5), "e_capacity_MWh must be positive"),
    (lambda c: c["microgrid_configs"][0]["devices"][0]["device_state_config"].update(p_min_MW=9), "p_min_MW"),
    (lambda c: c["microgrid_configs"][1].update(connection_bus="DSO Bus 1"), "connection_bus 'DSO Bus 1'"),
    (lambda c: c.update(dataset_path="missing.npz"), "does not exist"),
    (lambda c: c.update(max_episode_stepz=3),
     "max_episode_stepz: unknown key; did you mean 'max_episode_steps'"),
])
def test_config_errors_name_key(tmp_path, mutate, match):
    cfg = base()
    mutate(cfg)
    with pytest.raises(ConfigError, match=match):
        load_setup(str(write(tmp_path, cfg)))


def test_all_problems_reported_at_once():
    cfg = base()
    cfg["microgrid_configs"][0]["devices"][0]["type"] = "Nuclear"
    cfg["microgrid_configs"][2]["devices"][0]["device_state_config"]["bus"] = "Bus 1"
    assert len(validate_config(cfg)) == 2


def test_guide_pickle_dataset_still_loads(tmp_path):
    rng = np.random.default_rng(0)
    split = {"load": rng.uniform(0.5, 1.0, 48), "solar": rng.uniform(0, 1, 48),
             "wind": rng.uniform(0, 1, 48), "price": rng.uniform(20, 50, 48)}
    with open(tmp_path / "data.pkl", "wb") as f:
        pickle.dump({"train": split, "test": split}, f)
    cfg = base()
    cfg["dataset_path"] = "data.pkl"
    for mg in cfg["microgrid_configs"]:
        mg.pop("load_profile", None)
    cfg["dso_config"].pop("load_profile", None)
    with pytest.warns(Warning):
        loaded = load_setup(str(write(tmp_path, cfg)))
    assert loaded["dataset"]["train"]["load"].shape == (48,)


def test_protocol_selected_from_config_yml(tmp_path):
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    cfg = base()
    cfg["protocol"] = "p2p"
    env = MultiAgentMicrogrids(load_setup(str(write(tmp_path, cfg))))
    assert env.market is not None and env.native_action_spaces["MG3"].shape == (2,)
    cfg["protocol"] = "price_signal"
    env = MultiAgentMicrogrids(load_setup(str(write(tmp_path, cfg))))
    assert all(env.action_space(a).shape == (1,) for a in env.possible_agents)


# The user guide (BUILD_FROM_SCRATCH.md) sections 5.3 and 5.2, verbatim.
GUIDE_5_3_DATA_PKL = """\
# Create dataset (data.pkl)
import pickle
import numpy as np

dataset = {
    'train': {
        'load': np.random.uniform(0.5, 1.2, 8760),      # Hourly load profile
        'solar': np.maximum(0, np.sin(np.linspace(0, 2*np.pi, 24))),  # Daily solar
        'wind': np.random.uniform(0.2, 0.8, 8760),      # Wind profile
        'price': 30 + 20 * np.random.random(8760),      # $/MWh price
    },
    'test': {
        # Same structure for test split
    }
}

with open('data.pkl', 'wb') as f:
    pickle.dump(dataset, f)
"""



def test_guide_5_3_data_pkl_and_5_2_config_load_verbatim(tmp_path, monkeypatch, caplog,
                                                         guide_config_yml):
    import logging

    from powergrid.data import InSampleEvaluationWarning, UnsafeFormatWarning
    from powergrid.setups.loader import load_dataset

    monkeypatch.chdir(tmp_path)
    exec(compile(GUIDE_5_3_DATA_PKL, "BUILD_FROM_SCRATCH.md section 5.3", "exec"), {})
    solar_day = np.maximum(0, np.sin(np.linspace(0, 2 * np.pi, 24)))
    with caplog.at_level(logging.INFO, logger="powergrid.data.dataset"), \
            pytest.warns(UnsafeFormatWarning), pytest.warns(InSampleEvaluationWarning):
        ds = load_dataset("data.pkl")
    assert {k: v.shape for k, v in ds["train"].items()} == {k: (8760,) for k in ds["train"]}
    assert np.array_equal(ds["train"]["solar"], np.tile(solar_day, 365))
    assert all(np.array_equal(ds["test"][k], ds["train"][k]) for k in ds["train"])
    assert any("'train'" in r.getMessage() and "'solar'" in r.getMessage()
               and "daily profile" in r.getMessage() for r in caplog.records)

    (tmp_path / "config.yml").write_text(guide_config_yml)
    with pytest.warns(UnsafeFormatWarning), pytest.warns(InSampleEvaluationWarning):
        cfg = load_setup(str(tmp_path / "config.yml"))  # validates: raises on any problem
    assert cfg["dataset_path"] == str(tmp_path / "data.pkl")
    assert cfg["dataset"]["test"]["load"].shape == (8760,)
    assert validate_config(cfg) == []


def test_load_dataset_reexported_as_in_guide_5_4():
    import powergrid.data.dataset as dataset_module
    from powergrid.setups.loader import load_dataset

    assert load_dataset is dataset_module.load_dataset


def test_strict_mode_refuses_pickle_without_opening_it(hostile_pickle_setup):
    from powergrid.data import PickleRefusedError, load_dataset

    config, data, marker = hostile_pickle_setup
    with pytest.raises(PickleRefusedError, match="pickle") as info:
        load_setup(str(config), allow_pickle=False)
    msg = str(info.value)
    assert str(data) in msg and "runs any code" in msg and "save_dataset(" in msg
    assert "data.npz" in msg
    assert not marker.exists()
    cfg = load_setup(str(config), defer_pickle=True)  # checking only: path resolved, not read
    assert cfg["dataset_path"] == str(data) and "dataset" not in cfg
    assert not marker.exists()
    with pytest.warns(Warning, match="arbitrary code"):
        load_dataset(data)  # the default still loads it, and the payload is live
    assert marker.exists()
