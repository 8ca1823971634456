"""The declarative setup schema (powergrid.setups.schema) behind validate_config / load_setup."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from powergrid.agents import ESS, ConfigError, Generator
from powergrid.agents.device_agent import DeviceAgent, build_config
from powergrid.agents.generator import GeneratorConfig
from powergrid.agents.registry import DEVICE_REGISTRY
from powergrid.networks import connect_microgrid
from powergrid.setups.loader import KNOWN_TOP_KEYS, SETUPS_DIR, load_setup, validate_config
from powergrid.setups.schema import (
    DSOConfig,
    MicrogridConfig,
    RegulatorControlConfig,
    SetupConfig,
    device_config_class,
)

DOCS = Path(__file__).resolve().parents[4] / "docs" / "power_case_study.md"


def shipped(name: str = "ieee34_ieee13") -> dict[str, Any]:
    return yaml.safe_load((SETUPS_DIR / name / "config.yml").read_text())


def problems_after(mutate, name: str = "ieee34_ieee13") -> list[str]:
    cfg = shipped(name)
    mutate(cfg)
    return validate_config(cfg)


def mg(cfg, i=0):
    return cfg["microgrid_configs"][i]


def dev_cfg(cfg, i, j):
    return cfg["microgrid_configs"][i]["devices"][j]["device_state_config"]


# -- the defects (each was accepted, ignored or crashed before the schema) ---------------------
@pytest.mark.parametrize("mutate,expected", [
    (lambda c: mg(c).update(load_scael=0.2),
     "microgrid_configs[0].load_scael: unknown key; did you mean 'load_scale'?"),
    (lambda c: c["dso_config"].update(load_profil="G0-A"),
     "dso_config.load_profil: unknown key; did you mean 'load_profile'?"),
    (lambda c: mg(c, 1).update(netwrok="ieee13"),
     "microgrid_configs[1].netwrok: unknown key; did you mean 'network'?"),
    (lambda c: dev_cfg(c, 1, 0).update(p_max_mw=1.0),
     "microgrid_configs[1].devices[0].device_state_config.p_max_mw: unknown key; "
     "did you mean 'p_max_MW'?"),
    (lambda c: c.update(train="false"),
     "train must be true or false, got the string 'false'; write true or false, without quotes"),
    (lambda c: c.update(dt=-1), "dt must be positive (> 0), got -1"),
    (lambda c: c.update(dt=0), "dt must be positive (> 0), got 0"),
    (lambda c: mg(c).update(v_min_pu=1.1, v_max_pu=1.0),
     "microgrid_configs[0]: v_min_pu (1.1) must be below v_max_pu (1.0)"),
    (lambda c: mg(c, 2).update(sell_price_ratio=-0.5),
     "microgrid_configs[2].sell_price_ratio must be non-negative (>= 0), got -0.5"),
    (lambda c: mg(c).update(load_scale="high"),
     "microgrid_configs[0].load_scale must be a number, got the string 'high'"),
    (lambda c: c["microgrid_configs"][0]["devices"][1].update(device_state_config=[1, 2]),
     "microgrid_configs[0].devices[1].device_state_config must be a mapping"),
    (lambda c: dev_cfg(c, 2, 0).update(e_capacity_MWh=math.inf),
     "microgrid_configs[2].devices[0].device_state_config.e_capacity_MWh must be a finite number"),
    (lambda c: dev_cfg(c, 0, 0).update(cost_curve_coefs=[0.02, math.nan, 0.0]),
     "microgrid_configs[0].devices[0].device_state_config.cost_curve_coefs[1] must be a finite"),
    (lambda c: c["dso_config"].update(load_scale=-1.0),
     "dso_config.load_scale must be non-negative (>= 0), got -1.0"),
    (lambda c: c.update(max_episode_steps=0), "max_episode_steps must be >= 1, got 0"),
    (lambda c: c.update(penalty=-3), "penalty must be non-negative (>= 0), got -3"),
    (lambda c: dev_cfg(c, 0, 0).update(p_min_MW=3.0),
     "microgrid_configs[0].devices[0].device_state_config: p_min_MW (3.0) > p_max_MW (2.0)"),
    (lambda c: c.update(regulator_control={"v_sett": 1.0}),
     "regulator_control.v_sett: unknown key; did you mean 'v_set'?"),
    (lambda c: c.update(protocol="setpiont"), "protocol: unknown protocol 'setpiont'; did you mean"),
    (lambda c: c.update(power_flow={"backend": "pandapowr"}),
     "power_flow.backend: unknown power-flow backend 'pandapowr'; did you mean 'pandapower'?"),
    (lambda c: mg(c, 1).update(trafo_taps={"Reg1": 1.5}),
     "microgrid_configs[1].trafo_taps.Reg1 must be an integer, got 1.5"),
    (lambda c: c["microgrid_configs"][0]["devices"][0].update(type="Generater"),
     "microgrid_configs[0].devices[0].type: unknown device type 'Generater'; did you mean "
     "'Generator'? known types: ['ESS', 'Generator', 'PV', 'Transformer', 'WindTurbine']"),
    (lambda c: mg(c, 1).update(name="MG1"),
     "microgrid_configs[1].name: duplicate microgrid name 'MG1'"),
    (lambda c: mg(c, 0)["devices"][1].update(name="gen1"),
     "microgrid_configs[0].devices[1].name: duplicate device name 'gen1' in MG1"),
    (lambda c: mg(c, 1).pop("connection_bus"),
     "microgrid_configs[1].connection_bus is required with a dso_config"),
    (lambda c: mg(c, 1).update(network="ieee14"),
     "microgrid_configs[1].network: unknown network kind 'ieee14'"),
])
def test_each_defect_is_one_problem_naming_its_key_path(mutate, expected):
    problems = problems_after(mutate)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_dt_zero_and_non_finite_yaml_are_config_errors_not_crashes(tmp_path):
    text = (SETUPS_DIR / "single_microgrid" / "config.yml").read_text()
    text = text.replace("penalty: 10.0", "penalty: 10.0\ndt: 0\nseed: .nan")
    text = text.replace("e_capacity_MWh: 2.0", "e_capacity_MWh: .inf")
    (tmp_path / "config.yml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_setup(str(tmp_path / "config.yml"))
    msg = str(err.value)
    assert "has 3 problem(s)" in msg
    assert "\n  - dt must be positive (> 0), got 0" in msg
    assert "\n  - seed must be an integer, got nan" in msg
    assert ("\n  - microgrid_configs[0].devices[1].device_state_config.e_capacity_MWh must be a "
            "finite number, got inf") in msg


def test_every_problem_is_listed_at_once():
    def break_everything(c):
        c.update(train="no", dt=-0.5, max_steps=3)
        mg(c).update(load_scael=1, v_min_pu=float("nan"))
        dev_cfg(c, 0, 1).update(e_capacity_MWh=-5, ch_eff=1.5, init_soc="half")
        c["microgrid_configs"][1]["devices"][0]["type"] = "Nuclear"
        dev_cfg(c, 2, 0)["bus"] = "Bus 1"
        c["dso_config"]["load_scale"] = "1.0"

    paths = [p.split(" ")[0].rstrip(":") for p in problems_after(break_everything)]
    assert sorted(paths) == sorted([
        "train", "dt", "max_steps", "microgrid_configs[0].load_scael",
        "microgrid_configs[0].v_min_pu", "dso_config.load_scale",
        "microgrid_configs[0].devices[1].device_state_config.e_capacity_MWh",
        "microgrid_configs[0].devices[1].device_state_config.ch_eff",
        "microgrid_configs[0].devices[1].device_state_config.init_soc",
        "microgrid_configs[1].devices[0].type",
        "microgrid_configs[2].devices[0].device_state_config.bus",
    ])


@pytest.mark.parametrize("config", [
    None, [], "ieee34", {}, {"microgrid_configs": None}, {"microgrid_configs": "MG1"},
    {"microgrid_configs": [None, 3, "x", {"name": ["MG1"]}]},
    {"microgrid_configs": [{"name": "MG1", "devices": "gen1"}], "dso_config": [1]},
    {"microgrid_configs": [{"name": "MG1", "network": {"a": 1},
                            "devices": [{"type": ["ESS"], "name": 1,
                                         "device_state_config": {"bus": ["Bus 634"]}}]}]},
    {"microgrid_configs": [{"name": "MG1", "devices": [{"type": "ESS", "name": "e",
                                                        "device_state_config": {3: 1}}]}]},
])
def test_validate_config_never_raises_on_garbage(config):
    problems = validate_config(config)
    assert problems and all(isinstance(p, str) and p for p in problems)


def test_numpy_scalars_count_as_numbers_but_strings_do_not():
    cfg = shipped("single_microgrid")
    cfg["max_episode_steps"] = np.int64(12)
    cfg["train"] = np.bool_(True)
    dev_cfg(cfg, 0, 1)["e_capacity_MWh"] = np.float32(2.5)
    assert validate_config(cfg) == []
    ess = ESS("e", {"bus": "b", "e_capacity_MWh": np.float64(3.0), "p_max_MW": 1})
    assert ess.config.e_capacity_MWh == 3.0 and isinstance(ess.config.p_max_MW, float)
    with pytest.raises(ConfigError, match=r"ESS 'e': e_capacity_MWh must be a number, "
                                          r"got the string '3.0'"):
        ESS("e", {"bus": "b", "e_capacity_MWh": "3.0"})
    with pytest.raises(ConfigError, match="allow_commitment must be true or false"):
        Generator("g", {"bus": "b", "allow_commitment": "false"})


# -- one definition: device configs and the setup schema --------------------------------------
def test_device_configs_are_the_schema_of_device_state_config():
    for name, cls in DEVICE_REGISTRY.items():
        config_cls = device_config_class(cls)
        assert config_cls is not None and config_cls is cls.config_class, name
        assert dataclasses.is_dataclass(config_cls)
    # the same rule, the same message, from Python and from a setup
    with pytest.raises(ConfigError, match=r"p_min_MW \(3.0\) > p_max_MW \(2.0\); swap them"):
        Generator("g", {"bus": "Bus 633", "p_min_MW": 3.0, "p_max_MW": 2.0, "s_rated_MVA": 3})


def test_config_defaults_are_unchanged():
    c = GeneratorConfig(bus="Bus 633")
    assert (c.p_max_MW, c.p_min_MW, c.s_rated_MVA, c.cost_curve_coefs) == (10.0, 0.0, 12.0,
                                                                          (0.02, 10.0, 0.0))
    assert build_config(GeneratorConfig, {"bus": "b", "cost_curve_coefs": [1, 2, 3]},
                        "g").cost_curve_coefs == (1.0, 2.0, 3.0)


class _Heater(DeviceAgent):
    """A custom device with a plain (non-schema) config, as in the user guide's recipe."""

    def __init__(self, agent_id, device_state_config=None, **kwargs):
        super().__init__(agent_id=agent_id, device_state_config=device_state_config, **kwargs)
        cfg = dict(device_state_config or {})
        if cfg.get("p_MW", 0.0) < 0:
            raise ValueError("p_MW must be >= 0")
        self.p_MW = cfg.pop("p_MW", 0.0)
        cfg.pop("bus", None)
        if cfg:
            raise TypeError(f"unexpected keys {sorted(cfg)}")


class _BigGenerator(Generator):
    """Inherits Generator's constructor, hence its schema."""


class _OtherGenerator(Generator):
    """Its own constructor: the inherited schema may not be what it reads."""

    def __init__(self, agent_id, device_state_config=None, **kwargs):
        cfg = dict(device_state_config or {})
        self.colour = cfg.pop("colour", "red")
        super().__init__(agent_id, cfg, **kwargs)


@pytest.fixture
def registered():
    added = {"Heater": _Heater, "BigGenerator": _BigGenerator, "OtherGenerator": _OtherGenerator}
    DEVICE_REGISTRY.update(added)
    yield
    for name in added:
        dict.pop(DEVICE_REGISTRY, name)


def _with_device(kind: str, state: dict[str, Any]) -> dict[str, Any]:
    cfg = shipped("single_microgrid")
    mg(cfg)["devices"].append({"type": kind, "name": "x1", "device_state_config": state})
    return cfg


def test_custom_devices_without_a_schema_are_checked_by_building_them(registered):
    assert device_config_class(_Heater) is None and device_config_class(_OtherGenerator) is None
    assert device_config_class(_BigGenerator) is GeneratorConfig
    assert validate_config(_with_device("Heater", {"bus": "Bus 652", "p_MW": 0.1})) == []
    assert validate_config(_with_device("OtherGenerator", {"bus": "Bus 652", "colour": "b"})) == []
    (bad,) = validate_config(_with_device("Heater", {"bus": "Bus 652", "p_MW": -1}))
    assert bad == ("microgrid_configs[0].devices[3].device_state_config: _Heater rejects it: "
                   "ValueError: p_MW must be >= 0")
    (bad,) = validate_config(_with_device("BigGenerator", {"bus": "Bus 652", "colour": "b"}))
    assert bad.startswith("microgrid_configs[0].devices[3].device_state_config.colour: unknown key")
    (bad,) = validate_config(_with_device("Heater", {"bus": "Bus 999"}))
    assert bad.startswith("microgrid_configs[0].devices[3].device_state_config.bus: bus 'Bus 999' "
                          "does not exist in MG1's network")


# -- the schema keeps today's keys and the env's defaults ---------------------------------
def test_existing_top_level_keys_stay_accepted():
    before = {"dataset_path", "dataset", "train", "penalty", "share_reward", "max_episode_steps",
              "dso_config", "microgrid_configs", "centralized", "message_broker", "redis_url",
              "power_flow", "protocol", "dt", "nonconvergence_penalty", "truncate_on_divergence",
              "seed", "regulator_control", "pad_spaces"}
    assert KNOWN_TOP_KEYS == before


def _default(model, key):
    value = model.model_fields[key].get_default(call_default_factory=True)
    return value.model_dump() if hasattr(value, "model_dump") else value


def test_schema_defaults_are_the_env_defaults():
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
    from powergrid.envs.regulators import RegulatorSettings

    cfg = {"microgrid_configs": [{"name": "MG1", "devices": [
        {"type": "PV", "name": "pv1", "device_state_config": {"bus": "Bus 675"}}]}]}
    assert validate_config(cfg) == []
    env = MultiAgentMicrogrids(cfg)
    for key in ("dt", "train", "penalty", "share_reward", "max_episode_steps", "centralized",
                "nonconvergence_penalty", "truncate_on_divergence", "pad_spaces"):
        assert getattr(env, key) == _default(SetupConfig, key), key
    assert env.backend == _default(SetupConfig, "power_flow")["backend"]
    assert dataclasses.asdict(env.regulators.settings) == _default(SetupConfig, "regulator_control")
    assert dataclasses.asdict(RegulatorSettings()) == RegulatorControlConfig().model_dump()
    agent = env.agent_dict["MG1"]
    assert agent.load_scale == _default(MicrogridConfig, "load_scale") == 0.1
    assert agent.sell_price_ratio == _default(MicrogridConfig, "sell_price_ratio")
    assert agent.include_grid_cost == _default(MicrogridConfig, "include_grid_cost")
    assert agent.v_limits == (_default(MicrogridConfig, "v_min_pu"),
                              _default(MicrogridConfig, "v_max_pu"))
    pcc = inspect.signature(connect_microgrid).parameters["pcc_sn_mva"].default
    assert pcc == _default(MicrogridConfig, "pcc_sn_mva")


def _doc_table(title: str) -> dict[str, str]:
    """``{key: default cell}`` of the docs table under the line ``title``."""
    text = DOCS.read_text(encoding="utf-8")
    rows = text.split(title, 1)[1].split("\n\n", 2)[1].splitlines()[2:]
    table = {}
    for row in rows:
        keys, default = row.split(" | ")[0:2]
        names = re.findall(r"`([a-z_]+)`", keys)
        parts = [d.strip() for d in default.split(",")] if len(names) > 1 else [default]
        for name, part in zip(names, parts * len(names) if len(parts) == 1 else parts):
            table[name] = part.strip()
    return table


def _doc_value(cell: str) -> Any:
    cell = cell.strip().strip("`")
    return None if cell == "none" else yaml.safe_load(cell)


@pytest.mark.parametrize("title,model", [("Top level:", SetupConfig),
                                         ("Per microgrid (`microgrid_configs[i]`):",
                                          MicrogridConfig)])
def test_docs_tables_list_the_schema_keys_with_its_defaults(title, model):
    table = _doc_table(title)
    assert set(table) == set(model.model_fields)
    prose = {"required", "required with a DSO", "bundled", "default series"}
    checked = 0
    for key, cell in table.items():
        if cell in prose or (key == "regulator_control"):
            continue
        assert _doc_value(cell) == _default(model, key), (key, cell)
        checked += 1
    assert checked >= 8
    if "regulator_control" in table:  # documented as the flag, the schema holds the mapping
        assert _doc_value(table["regulator_control"]) is _default(model, "regulator_control")["enabled"]


def test_docs_dso_config_row_lists_the_dso_keys_with_their_defaults():
    row = next(r for r in DOCS.read_text(encoding="utf-8").splitlines()
               if r.startswith("| `dso_config` |"))
    documented = dict(re.findall(r"`([a-z_]+)` \(`?([^)`;]*)", row))
    assert set(documented) == set(DSOConfig.model_fields)
    assert float(documented["load_scale"]) == _default(DSOConfig, "load_scale")
    assert documented["name"] == _default(DSOConfig, "name")
    assert documented["network"] == _default(DSOConfig, "network")


# -- fuzzing the shipped config ------------------------------------------------------------
def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every value in a parsed config (mappings and lists walked)."""
    out = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _leaves(value, (*path, i))
    return out


def _text_path(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _get(cfg, path):
    for part in path:
        cfg = cfg[part]
    return cfg


def _wrong_type(value: Any) -> Any:
    """A value of another type that no key of that value accepts (types are strict)."""
    if isinstance(value, bool):
        return str(value).lower()            # 'true': a string
    if isinstance(value, (int, float)):
        return str(value)                    # '0.3': a string
    if isinstance(value, str):
        return 7
    return "x"                               # a mapping or list replaced by text


BASE = shipped("single_microgrid")
NODES = [p for p in _leaves(BASE) if isinstance(p[-1], str)]
NUMBERS = [p for p in NODES if isinstance(_get(BASE, p), (int, float))
           and not isinstance(_get(BASE, p), bool)]
INVALID = st.one_of(
    st.tuples(st.just("type"), st.sampled_from(NODES), st.none()),
    st.tuples(st.just("typo"), st.sampled_from(NODES), st.sampled_from(["zz", "_", "x"])),
    st.tuples(st.just("nonfinite"), st.sampled_from(NUMBERS),
              st.sampled_from([math.inf, -math.inf, math.nan])),
)
MAYBE = st.tuples(st.just("value"), st.sampled_from(NUMBERS),
                  st.sampled_from([-1.0, -0.01, 0, 0.05, 0.5, 0.99, 1.5, 3]))


def _apply(cfg, mutation) -> str | None:
    """Apply one mutation; ``None`` when an earlier one already removed or replaced its node."""
    kind, path, arg = mutation
    try:
        parent, key = _get(cfg, path[:-1]), path[-1]
    except (KeyError, TypeError, IndexError):
        return None
    if not isinstance(parent, (dict, list)) or (isinstance(parent, dict) and key not in parent):
        return None
    if kind == "typo":
        parent[key + arg] = parent.pop(key)
        return _text_path((*path[:-1], key + arg))
    parent[key] = _wrong_type(_get(BASE, path)) if kind == "type" else arg
    return _text_path(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(INVALID, min_size=1, max_size=3))
# found by CI: a list replaced by text, then a key under it renamed
@example(mutations=[("type", ("microgrid_configs",), None),
                    ("typo", ("microgrid_configs", 0, "name"), "zz")])
def test_fuzz_invalid_mutations_are_reported_at_their_key_path(mutations):
    cfg = copy.deepcopy(BASE)
    paths = [p for p in (_apply(cfg, m) for m in mutations) if p is not None]
    assert paths  # the first mutation always applies
    problems = validate_config(cfg)
    assert problems
    for path in paths:
        if _still_there(cfg, path) and not _under_a_broken_device_type(cfg, path):
            assert any(re.match(re.escape(path) + r"[ :]", p) for p in problems), (path, problems)


def _still_there(cfg, text: str) -> bool:
    """Whether ``text`` (a key path) still exists (a later mutation may have replaced it)."""
    node = cfg
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        key = int(part[1:-1]) if part.startswith("[") else part
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    return True


def _under_a_broken_device_type(cfg, text: str) -> bool:
    """A device_state_config is checked against its type's schema: none to check without it."""
    match = re.match(r"(microgrid_configs\[(\d+)\]\.devices\[(\d+)\])\.device_state_config\.", text)
    if not match:
        return False
    entry = cfg["microgrid_configs"][int(match[2])]["devices"][int(match[3])]
    return entry.get("type") not in DEVICE_REGISTRY


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutation=MAYBE)
def test_fuzz_values_either_rejected_or_the_env_builds(mutation):
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids

    cfg = copy.deepcopy(BASE)
    _apply(cfg, mutation)
    problems = validate_config(cfg)
    if problems:
        return
    try:
        env = MultiAgentMicrogrids(cfg)
    except ConfigError as exc:  # feasibility is the power flow's to decide, not the schema's
        assert "does not converge" in str(exc), str(exc)
        return
    obs, _ = env.reset(seed=0)
    assert all(np.isfinite(o).all() for o in obs.values())
