"""Valid actions give the trajectories recorded before the action-validation rework.

``data/valid_actions_reference.json`` was written by this module (``python
test_valid_actions_unchanged.py``) on the code *before* step() validated actions at the
boundary (issue 18). Validation must only reject bad input: seeded runs with valid
actions (including finite out-of-range values, which are clipped, native-size and
padded actions, and per-device dict actions) must still give the same observations,
rewards, costs and safety in every mode.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import get_available_setups, load_setup

REFERENCE = Path(__file__).parent / "data" / "valid_actions_reference.json"
STEPS = 12
#: the backend the reference was recorded with (the setups' default then)
RECORDED_BACKEND = "lightsim2grid"


def _commitment_config() -> dict[str, Any]:
    cfg = copy.deepcopy(load_setup("single_microgrid"))
    gen = cfg["microgrid_configs"][0]["devices"][0]["device_state_config"]
    gen.update(allow_commitment=True, startup_time_hr=2.0, shutdown_time_hr=1.0, startup_cost=5.0)
    return cfg


def scenarios() -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (env_config, action form: 'padded', 'native' or 'dict')."""
    base = load_setup("ieee34_ieee13")
    return {
        "ieee34_centralized": (dict(base), "padded"),
        "ieee34_inprocess": ({**base, "centralized": False}, "padded"),
        "ieee34_native": (dict(base), "native"),
        "ieee34_p2p": ({**base, "protocol": "p2p"}, "padded"),
        "ieee34_price_signal": ({**base, "protocol": "price_signal"}, "padded"),
        "ieee123_unpadded": ({**load_setup("ieee123_5mg"), "pad_spaces": False}, "native"),
        "single_dict": (load_setup("single_microgrid"), "dict"),
        "single_commitment": (_commitment_config(), "padded"),
    }


def _action(env: MultiAgentMicrogrids, agent: str, form: str, rng: np.random.Generator):
    space = env.native_action_spaces[agent] if form != "padded" else env.action_space(agent)
    a = rng.uniform(-1.3, 1.3, size=space.shape)  # a little outside the box: clipped
    if form != "dict":
        return a
    out, i = {}, 0
    for name, dev in env.agent_dict[agent].devices.items():
        n = dev.get_action_space().shape[0]
        out[name] = a[i:i + n]
        i += n
    return out


def _round(values) -> list[float]:
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64).tolist()]


def record(config: dict[str, Any], form: str, seed: int = 7,
           backend: str | None = RECORDED_BACKEND) -> dict[str, Any]:
    """The trajectory of ``config`` under seeded actions (``backend=None``: the config's)."""
    config = dict(config, max_episode_steps=STEPS)
    if backend is not None:
        config["power_flow"] = {"backend": backend}
    env = MultiAgentMicrogrids(config)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out: dict[str, Any] = {"obs0": {a: _round(o) for a, o in obs.items()}, "steps": []}
    while env.agents:
        actions = {a: _action(env, a, form, rng) for a in env.agents}
        obs, rew, _, _, infos = env.step(actions)
        out["steps"].append({
            "obs": {a: _round(o) for a, o in obs.items()},
            "reward": rew,
            "cost": {a: infos[a]["cost"] for a in rew},
            "safety": {a: infos[a]["safety"] for a in rew},
        })
    out["state"] = _round(env.state())
    env.close()
    return out


def assert_same_trajectory(got: dict[str, Any], ref: dict[str, Any], atol: float) -> None:
    assert len(got["steps"]) == len(ref["steps"])
    for a in ref["obs0"]:
        np.testing.assert_allclose(got["obs0"][a], ref["obs0"][a], rtol=1e-5, atol=atol)
    for t, (g, r) in enumerate(zip(got["steps"], ref["steps"])):
        for key in ("reward", "cost", "safety"):
            for a in r[key]:
                assert g[key][a] == pytest.approx(r[key][a], rel=1e-6, abs=atol), (t, key, a)
        for a in r["obs"]:
            np.testing.assert_allclose(g["obs"][a], r["obs"][a], rtol=1e-5, atol=atol,
                                       err_msg=f"step {t}, {a}")
    np.testing.assert_allclose(got["state"], ref["state"], rtol=1e-5, atol=atol)


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_valid_actions_give_the_recorded_trajectory(name: str) -> None:
    config, form = scenarios()[name]
    assert_same_trajectory(record(config, form), json.loads(REFERENCE.read_text())[name],
                           atol=1e-6)


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_the_default_sweep_backend_differs_only_by_newtons_stopping_error(name: str) -> None:
    """The setups now default to ``sweep`` (exact to 1e-10 pu). The reference carries
    the Newton solver's 1e-8 mismatch, which shows as up to ~1e-5 in a line loading
    (%) or an import (MW): within 1e-4, and the same trajectory otherwise."""
    config, form = scenarios()[name]
    got = record(config, form, backend=None)
    assert_same_trajectory(got, json.loads(REFERENCE.read_text())[name], atol=1e-4)


@pytest.mark.parametrize("setup", get_available_setups())
def test_in_memory_distributed_mode_gives_the_centralized_trajectory(setup: str) -> None:
    """Every shipped setup (the recorded ones pin the centralized runs; Redis mode is
    compared in tests/distributed): agents behind the in-memory broker, same numbers."""
    config = load_setup(setup)
    central = record({**config, "centralized": True}, "padded", backend=None)
    distributed = record({**config, "centralized": False}, "padded", backend=None)
    assert distributed == central


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps({n: record(c, f) for n, (c, f) in scenarios().items()}))
    print(f"wrote {REFERENCE}")
