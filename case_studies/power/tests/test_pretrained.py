"""The bundled policies are pickle-free: loading and acting with them never unpickles.

Two bundles ship: the demo's TorchRL MAPPO-CC policy (``heron_torchrl.json`` +
``actor.safetensors``) and the older RLlib MAPPO one (``heron_policy.json`` +
``heron_actor.*``).

A hostile pickle planted where RLlib keeps its module files shows what that buys:
the bundle's loader never opens it, ``allow_pickle=False`` refuses a folder that has
only such files, and the same folder *does* run the payload through RLlib's loader.
"""

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.testing.no_pickle import forbid_unpickling
from powergrid.pretrained import pretrained_checkpoint

MODULE_DIR = Path("learner_group") / "learner" / "rl_module" / "shared_policy"


def test_bundle_holds_no_pickle():
    bundle = pretrained_checkpoint("ieee34_ieee13", "mappo")
    assert bundle is not None
    names = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert names == ["heron_actor.json", "heron_actor.safetensors", "heron_policy.json"]


def test_loading_and_acting_with_the_bundle_never_unpickles():
    from heron.training.evaluate import load_policies
    from heron.training.safe_policy import SafePolicy
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
    from powergrid.setups.loader import load_setup

    env = MultiAgentMicrogrids({**load_setup("ieee34_ieee13"), "train": False,
                                "max_episode_steps": 24})
    actions: dict[str, list[np.ndarray]] = {a: [] for a in env.possible_agents}
    with forbid_unpickling():
        policies = load_policies(pretrained_checkpoint("ieee34_ieee13", "mappo"), allow_pickle=False)
        obs, _ = env.reset(seed=0, options={"day": 0})
        while env.agents:
            step = {a: policies[a](obs[a]) for a in env.agents}
            for a, act in step.items():
                assert np.all(np.isfinite(act)) and np.all(np.abs(act) <= 1.0)
                np.testing.assert_array_equal(act, policies[a](obs[a]))   # deterministic
                actions[a].append(act)
            obs, *_ = env.step(step)
    assert all(isinstance(p, SafePolicy) for p in policies.values())
    assert all(len(acts) == 24 for acts in actions.values())
    # the weights really loaded: the dispatch follows the hour (MG2's is saturated)
    assert max(np.ptp(np.stack(acts), axis=0).max() for acts in actions.values()) > 1e-2


def _plant_hostile_pickle(folder: Path, marker: Path) -> None:
    class WritesMarker:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.write_text, (marker, "code in the pickle ran"))

    import pickle

    (folder / MODULE_DIR).mkdir(parents=True)
    (folder / MODULE_DIR / "class_and_ctor_args.pkl").write_bytes(pickle.dumps(WritesMarker()))


def test_a_hostile_rllib_file_beside_the_bundle_is_never_opened(tmp_path):
    import shutil

    from heron.training.evaluate import PickleRefusedError, load_policies
    from heron.training.safe_policy import ACTOR_FILE, WEIGHTS_FILE

    marker = tmp_path / "unpickled.marker"
    both = Path(shutil.copytree(pretrained_checkpoint("ieee34_ieee13", "mappo"), tmp_path / "both"))
    _plant_hostile_pickle(both, marker)
    policies = load_policies(both)                       # safe files win
    obs = np.zeros(policies["MG1"]._native_obs_dim(), dtype=np.float32)
    policies["MG1"](obs)
    assert not marker.exists()

    legacy = Path(shutil.copytree(both, tmp_path / "legacy"))
    (legacy / ACTOR_FILE).unlink()
    (legacy / WEIGHTS_FILE).unlink()
    with pytest.raises(PickleRefusedError, match="unpickle"):
        load_policies(legacy, allow_pickle=False)
    assert not marker.exists()
    with contextlib.suppress(Exception):                 # RLlib's loader runs the payload
        load_policies(legacy)
    assert marker.read_text() == "code in the pickle ran"


def test_export_writes_the_pickle_free_bundle(tmp_path, monkeypatch):
    import powergrid.pretrained as pretrained

    src = pretrained_checkpoint("ieee34_ieee13", "mappo")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with forbid_unpickling():
        out = pretrained.export(src, "demo_setup", "mappo")
    assert out == tmp_path / "demo_setup_mappo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_setup_mappo"]
    for name in ("heron_actor.json", "heron_actor.safetensors", "heron_policy.json"):
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert pretrained.pretrained_checkpoint("demo_setup", "mappo") == out
    with pytest.raises(FileNotFoundError, match="heron_torchrl.json or heron_policy.json"):
        pretrained.export(tmp_path / "nope", "x")


@pytest.mark.parametrize("command", ["evaluate", "simulate", "train"])
def test_cli_help_says_where_checkpoints_unpickle(command):
    from click.testing import CliRunner

    from powergrid.cli import main

    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "pickle-free" in text and "unpickles" in text


def test_the_demo_bundle_is_torchrl_json_and_safetensors_only():
    from powergrid.pretrained import BUNDLED_ALGO

    bundle = pretrained_checkpoint("ieee34_ieee13")
    assert bundle is not None and bundle.name == f"ieee34_ieee13_{BUNDLED_ALGO}"
    names = sorted(p.name for p in bundle.rglob("*") if p.is_file())
    assert names == ["actor.safetensors", "heron_torchrl.json"]


def test_the_torchrl_bundle_acts_without_unpickling():
    from heron.training.evaluate import load_policies
    from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
    from powergrid.setups.loader import load_setup

    env = MultiAgentMicrogrids({**load_setup("ieee34_ieee13"), "train": False,
                                "max_episode_steps": 24})
    actions: dict[str, list[np.ndarray]] = {a: [] for a in env.possible_agents}
    with forbid_unpickling():
        policies = load_policies(pretrained_checkpoint("ieee34_ieee13"), allow_pickle=False)
        obs, _ = env.reset(seed=0, options={"day": 0})
        while env.agents:
            step = {a: policies[a](obs[a]) for a in env.agents}
            for a, act in step.items():
                assert act.shape == env.action_space(a).shape
                assert np.all(np.isfinite(act)) and np.all(np.abs(act) <= 1.0)
                actions[a].append(act)
            obs, *_ = env.step(step)
    # the weights really loaded: the batteries' set-points follow the hour
    assert max(np.ptp(np.stack(acts), axis=0).max() for acts in actions.values()) > 1e-2


def test_export_of_a_torchrl_checkpoint_drops_resume_state(tmp_path, monkeypatch):
    import powergrid.pretrained as pretrained
    from heron.training.torchrl.policy import load_torchrl_policies

    src = pretrained_checkpoint("ieee34_ieee13")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with forbid_unpickling():
        out = pretrained.export(src, "demo_setup", "mappo-lag")
        a = load_torchrl_policies(src)["MG1"]
        b = load_torchrl_policies(out)["MG1"]
    obs = np.linspace(-1, 1, a.obs_dim).astype(np.float32)
    np.testing.assert_array_equal(a(obs), b(obs))
    assert not (out / "model.pt").exists()
