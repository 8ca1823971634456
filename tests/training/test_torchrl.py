"""TorchRL trainer (heron.training.torchrl) on a small heron domain env (ToyRooms).

ToyRooms' houses have 1 and 2 radiators: observations and actions differ in size, so
padding is exercised; LoopVectorEnv gives it the vectorized interface.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")
pytest.importorskip("tensordict")

from heron.training.config import TrainConfig  # noqa: E402
from heron.training.torchrl import LoopVectorEnv  # noqa: E402
from heron.training.torchrl.models import OBS_KEY, VALUE_KEY  # noqa: E402
from heron.training.torchrl.trainer import (  # noqa: E402
    WEIGHTS_FILE,
    build_learner,
    load_checkpoint,
    train,
)
from heron.training.toy_env import make_toy_env  # noqa: E402

torch.set_num_threads(1)
ENV_CONFIG = {"max_episode_steps": 6}


def toy_vector_env(env_config: dict, n: int) -> LoopVectorEnv:
    return LoopVectorEnv(make_toy_env, env_config, n)


def tiny_cfg(tmp_path: Path, algo: str = "mappo-cc", **kw) -> TrainConfig:
    values = dict(algo=algo, iterations=2, train_batch_size=48, minibatch_size=16, num_epochs=2,
                  hidden_sizes=(8, 8), num_envs_per_worker=4, run_dir=str(tmp_path / "run"),
                  tensorboard=False, verbose=False, normalize_obs=True, reward_scale=0.5,
                  trainer="torchrl")
    values.update(kw)
    return TrainConfig(**values)


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("algo", ["mappo-cc", "mappo", "ippo", "mappo-lag"])
def test_smoke_run_writes_the_run_folder(tmp_path: Path, algo: str) -> None:
    tensorboard = algo == "mappo" and importlib.util.find_spec("tensorboardX") is not None
    result = train(tiny_cfg(tmp_path, algo, tensorboard=tensorboard), toy_vector_env,
                   ENV_CONFIG)
    run = Path(result.run_dir)
    for name in ("config.json", "metrics.csv", "learning_curve.png"):
        assert (run / name).is_file(), name
    if tensorboard:
        assert any((run / "tensorboard").iterdir())
    assert json.loads((run / "config.json").read_text())["train"]["algo"] == algo
    rows = read_metrics(run)
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    steps = [float(r["env_steps"]) for r in rows]
    # 4 copies x 12 steps per iteration, minus the autoreset steps after episode ends
    assert 0 < steps[0] <= 48 and steps[0] < steps[1] <= 96
    for key in ("episode_return_mean", "cost_mean", "violation_rate", "policy_loss", "vf_loss"):
        assert math.isfinite(float(rows[-1][key])), key
    assert 0.0 <= float(rows[-1]["violation_rate"]) <= 1.0
    assert result.final_checkpoint == run / "checkpoints" / "final"
    meta = json.loads((result.final_checkpoint / "heron_torchrl.json").read_text())
    assert meta["algo"] == algo and meta["env_steps"] == int(steps[-1])
    if algo == "mappo-lag":
        assert float(rows[0]["lagrange_multiplier"]) == 0.0
        assert meta["lagrange_multiplier"] >= 0.0


def test_lagrangian_penalises_violations_and_learns_the_multiplier(tmp_path: Path) -> None:
    from heron.training.torchrl.trainer import lagrangian_step, make_collector

    cfg = tiny_cfg(tmp_path, algo="mappo-lag", extra={"violation_target": 0.0,
                                                       "lagrange_lr": 2.0})
    learner = build_learner(cfg, toy_vector_env(ENV_CONFIG, 4), None)
    batch = next(iter(make_collector(learner, cfg)))
    safety = batch.get(("next", "agents", "safety"))
    real = ~batch.get(("next", "autoreset"))
    violating = (safety > 0) & real.unsqueeze(-1)
    assert violating.any() and not violating.all()   # ToyRooms under a random policy
    before = batch.get(("next", "agents", "reward")).clone()
    learner.lagrange_multiplier = 0.5
    rate = lagrangian_step(learner, batch, cfg)
    after = batch.get(("next", "agents", "reward"))
    diff = (before - after).squeeze(-1)
    assert torch.allclose(diff[violating], torch.full_like(diff[violating], 0.5))
    assert torch.all(diff[~violating] == 0)
    expected = violating.sum().item() / (real.sum().item() * 2)
    assert rate == pytest.approx(expected)
    assert learner.lagrange_multiplier == pytest.approx(0.5 + 2.0 * expected)
    # dual ascent lets the multiplier fall back (never below 0) when under the target
    cfg2 = tiny_cfg(tmp_path, algo="mappo-lag", extra={"violation_target": 1.0,
                                                        "lagrange_lr": 100.0})
    lagrangian_step(learner, batch, cfg2)
    assert learner.lagrange_multiplier == 0.0


def test_mappo_lag_needs_the_torchrl_trainer() -> None:
    with pytest.raises(ValueError, match="torchrl"):
        TrainConfig(algo="mappo-lag")
    assert TrainConfig(algo="mappo-lag", trainer="torchrl").centralized_critic


def _reset_td(algo: str, normalize_obs: bool = False):
    cfg = TrainConfig(algo=algo, hidden_sizes=(8,), normalize_obs=normalize_obs)
    venv = toy_vector_env({}, 3)
    learner = build_learner(cfg, venv, None)
    return learner, venv, learner.env.reset()


def test_centralised_critic_sees_exactly_state(tmp_path: Path) -> None:
    learner, venv, td = _reset_td("mappo-cc")
    assert learner.critic.in_keys == ["state"]
    from heron.testing.layer_inputs import first_linear_inputs

    seen = first_linear_inputs(learner.critic, td)
    assert len(seen) == 1                                    # the state, once, nothing else
    assert torch.equal(seen[0], torch.as_tensor(venv.state()))
    value = td.get(VALUE_KEY).clone()
    assert value.shape == (3, learner.env.n_agents, 1)      # one value per copy and agent
    # the local observations do not move V(s); the state does
    td2 = td.clone()
    td2.set(OBS_KEY, td2.get(OBS_KEY) + 5.0)
    learner.critic(td2)
    assert torch.equal(td2.get(VALUE_KEY), value)
    td3 = td.clone()
    td3.set("state", td3.get("state") + 1.0)
    learner.critic(td3)
    assert not torch.allclose(td3.get(VALUE_KEY), value)


def test_centralised_critic_tells_the_agents_apart() -> None:
    """Individual rewards: the agents' values of one state differ (per-agent heads)."""
    learner, _, td = _reset_td("mappo-cc")
    learner.critic(td)
    value = td.get(VALUE_KEY)
    assert not torch.allclose(value[:, 0], value[:, 1])


@pytest.mark.parametrize("algo", ["mappo-cc", "mappo", "ippo"])
def test_actors_see_only_their_local_observation(algo: str) -> None:
    learner, _, td = _reset_td(algo)
    assert learner.actor.in_keys == [OBS_KEY]
    learner.actor(td)
    loc = td.get(("agents", "loc")).clone()
    td2 = td.clone()
    obs = td2.get(OBS_KEY).clone()
    obs[:, 0] += 3.0                                               # agent 0 only
    td2.set(OBS_KEY, obs)
    td2.set("state", td2.get("state") + 3.0)                      # and the global state
    learner.actor(td2)
    loc2 = td2.get(("agents", "loc"))
    assert not torch.allclose(loc2[:, 0], loc[:, 0])
    assert torch.equal(loc2[:, 1:], loc[:, 1:])


def test_local_critic_does_not_read_state() -> None:
    learner, _, td = _reset_td("mappo")
    assert learner.critic.in_keys == [OBS_KEY]


def test_padding_never_leaks_into_another_agents_action() -> None:
    """house1 has one radiator: the second (padded) action entry must change nothing."""
    cfg = {"noise": 0.0, "max_episode_steps": 5}
    results = []
    for pad_value in (-1.0, 1.0):
        venv = toy_vector_env(cfg, 2)
        venv.reset(seed=3)
        assert venv.single_action_space("house1").shape == (2,)
        trace = []
        for _ in range(4):
            acts = {"house1": np.array([[0.2, pad_value]] * 2, np.float32),
                    "house2": np.array([[-0.3, 0.6]] * 2, np.float32)}
            obs, rew, *_ = venv.step(acts)
            trace.append((obs["house1"].copy(), obs["house2"].copy(),
                          rew["house1"].copy(), rew["house2"].copy(), venv.state().copy()))
        results.append(trace)
    for a, b in zip(*results):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # and the adapter hands each agent its own rows of the [N, A, act_dim] action
    learner, _, _ = _reset_td("mappo")
    action = torch.zeros(3, 2, 2)
    action[:, 0, 1] = 0.9
    out = learner.env.env_actions(action)
    assert np.all(out["house2"] == 0.0) and np.allclose(out["house1"][:, 1], 0.9)


def test_same_seed_same_first_iteration(tmp_path: Path) -> None:
    def first_row(seed: int, name: str) -> dict[str, str]:
        cfg = tiny_cfg(tmp_path, iterations=1, seed=seed, run_dir=str(tmp_path / name))
        row = read_metrics(Path(train(cfg, toy_vector_env, ENV_CONFIG).run_dir))[0]
        return {k: v for k, v in row.items() if not k.endswith("time_s")}

    a, b, c = first_row(0, "a"), first_row(0, "b"), first_row(1, "c")
    assert a == b
    assert a != c


def test_resume_continues_the_step_count(tmp_path: Path) -> None:
    first = train(tiny_cfg(tmp_path, run_dir=str(tmp_path / "first")), toy_vector_env,
                  ENV_CONFIG)
    done_steps = float(read_metrics(Path(first.run_dir))[-1]["env_steps"])
    second = train(tiny_cfg(tmp_path, iterations=1, run_dir=str(tmp_path / "second"),
                            resume=str(first.final_checkpoint)), toy_vector_env, ENV_CONFIG)
    rows = read_metrics(Path(second.run_dir))
    assert int(rows[0]["iteration"]) == 3
    assert done_steps < float(rows[0]["env_steps"]) <= done_steps + 48
    # the resumed run starts from the saved weights and normaliser
    _, meta = load_checkpoint(first.final_checkpoint)
    _, meta2 = load_checkpoint(second.final_checkpoint)
    assert meta2["obs_norm"] == meta["obs_norm"]
    assert meta2["iteration"] == 3


def test_resume_refuses_a_critic_of_another_layout(tmp_path: Path) -> None:
    first = train(tiny_cfg(tmp_path, iterations=1, run_dir=str(tmp_path / "first")),
                  toy_vector_env, ENV_CONFIG)
    meta_file = first.final_checkpoint / "heron_torchrl.json"
    meta = json.loads(meta_file.read_text())
    assert meta["critic_layout"] == "state-heads"
    del meta["critic_layout"]                       # what checkpoints before it look like
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="older layout.*cannot be resumed.*evaluate"):
        train(tiny_cfg(tmp_path, resume=str(first.final_checkpoint),
                       run_dir=str(tmp_path / "second")), toy_vector_env, ENV_CONFIG)


def test_resume_refuses_another_algo(tmp_path: Path) -> None:
    first = train(tiny_cfg(tmp_path, iterations=1, run_dir=str(tmp_path / "first")),
                  toy_vector_env, ENV_CONFIG)
    with pytest.raises(ValueError, match="algo"):
        train(tiny_cfg(tmp_path, algo="ippo", resume=str(first.final_checkpoint),
                       run_dir=str(tmp_path / "second")), toy_vector_env, ENV_CONFIG)


class _NotATensor:
    """Any class instance: what a pickle-based checkpoint could smuggle in."""

    def __init__(self) -> None:
        self.payload = "would run on load"


def test_checkpoint_loads_and_refuses_pickle(tmp_path: Path) -> None:
    result = train(tiny_cfg(tmp_path, algo="ippo", iterations=1), toy_vector_env, ENV_CONFIG)
    ckpt = result.final_checkpoint
    state, meta = load_checkpoint(ckpt)
    cfg = TrainConfig.from_dict(meta["train_config"])
    learner = build_learner(cfg, toy_vector_env({}, 2), meta["obs_norm"])
    learner.actor.load_state_dict(state["actor"])
    learner.critic.load_state_dict(state["critic"])
    for k, v in learner.actor.state_dict().items():
        assert torch.equal(v, state["actor"][k])
    torch.save({"actor": _NotATensor()}, ckpt / WEIGHTS_FILE)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(ckpt)


def test_missing_torchrl_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from heron.training import torchrl as heron_torchrl

    monkeypatch.setitem(sys.modules, "torchrl", None)
    with pytest.raises(heron_torchrl.TorchRLMissingError, match="pip install"):
        heron_torchrl.require_torchrl()


def test_cli_trainer_flag_reaches_the_config() -> None:
    from heron.training.cli import build_parser, config_from_args, defaults_for_trainer

    defaults = defaults_for_trainer(["--trainer", "torchrl"], {"num_envs_per_worker": 4},
                                    {"num_envs_per_worker": 64})
    assert defaults == {"num_envs_per_worker": 64}
    assert defaults_for_trainer([], {"num_envs_per_worker": 4},
                                {"num_envs_per_worker": 64}) == {"num_envs_per_worker": 4}
    args = build_parser(train_defaults=defaults).parse_args(["--trainer", "torchrl", "--test"])
    cfg = config_from_args(args)
    assert cfg.trainer == "torchrl" and cfg.num_envs_per_worker == 8
    assert config_from_args(build_parser().parse_args([])).trainer == "rllib"
    with pytest.raises(ValueError, match="trainer"):
        TrainConfig(trainer="jax")


@pytest.mark.parametrize("algo", ["mappo-cc", "ippo"])
def test_checkpoint_policies_act_like_the_trained_actor(tmp_path: Path, algo: str) -> None:
    """load_torchrl_policies on the single env's native observations gives the actions
    the adapter gives the actor in training (deterministic mode), cut to native sizes."""
    from tensordict.nn import InteractionType, set_interaction_type

    from heron.training.torchrl import vector_observation_stats
    from heron.training.torchrl.policy import load_torchrl_policies
    from heron.training.torchrl.trainer import save_checkpoint

    cfg = tiny_cfg(tmp_path, algo=algo)
    venv = toy_vector_env(ENV_CONFIG, 1)
    learner = build_learner(cfg, venv, vector_observation_stats(venv, steps=8))
    ckpt = save_checkpoint(learner, cfg, tmp_path / "ckpt")
    single = make_toy_env(ENV_CONFIG)
    policies = load_torchrl_policies(ckpt, env=single)
    obs, _ = single.reset(seed=5)
    learner.env.set_seed(5)                # copy 0 is seeded like the single env
    td = learner.env.reset()
    np.testing.assert_array_equal(venv.envs[0].state(), single.state())
    with torch.no_grad(), set_interaction_type(InteractionType.DETERMINISTIC):
        expected = learner.env.env_actions(learner.actor(td).get(("agents", "action")))
    for agent, policy in policies.items():
        action = policy(obs[agent])
        assert action.shape == single.action_space(agent).shape
        np.testing.assert_allclose(action, expected[agent][0, : action.shape[0]], atol=1e-6)


def test_num_workers_collects_in_several_processes(tmp_path: Path) -> None:
    """--num-workers 2: two collector processes, 4 copies each, one batch of both."""
    from heron.training.toy_env import make_toy_vector_env

    cfg = tiny_cfg(tmp_path, num_workers=2, iterations=2)
    result = train(cfg, make_toy_vector_env, ENV_CONFIG)
    rows = read_metrics(Path(result.run_dir))
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    # 48 steps per iteration at least, in whole steps of the 2 x 4 copies
    assert float(rows[0]["env_steps"]) == 48.0
    assert math.isfinite(float(rows[-1]["policy_loss"]))
    assert (result.final_checkpoint / WEIGHTS_FILE).exists()


def test_collector_processes_act_with_the_updated_weights(tmp_path: Path) -> None:
    """What the learner changes reaches the workers' actors after each update."""
    from heron.training.torchrl.trainer import make_collector
    from heron.training.toy_env import make_toy_vector_env

    cfg = tiny_cfg(tmp_path, num_workers=2, normalize_obs=False,
                   extra={"log_std_init": 0.0})
    learner = build_learner(cfg, make_toy_vector_env(ENV_CONFIG, 4), None)
    collector = make_collector(learner, cfg, make_toy_vector_env, ENV_CONFIG)
    try:
        batches = iter(collector)
        first = next(batches).get(("agents", "action"))
        assert first.shape[0] == 8                    # 2 workers x 4 copies
        assert float(first.abs().max()) > 0.5         # exploration noise of scale 1
        with torch.no_grad():                         # loc 0, scale at its floor: actions ~0
            for name, p in learner.actor.named_parameters():
                p.fill_(-20.0 if "scale" in name else 0.0)
        collector.update_policy_weights_()
        after = next(batches).get(("agents", "action"))
        assert float(after.abs().max()) < 1e-2            # (the scale floor is 1e-4)
    finally:
        collector.shutdown()


# -- overlap: collect the next batch while PPO updates --------------------------------------
def _rows_without_times(run_dir: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in read_metrics(run_dir)]


def test_overlap_is_repeatable(tmp_path: Path) -> None:
    """Same seed, same metrics, iteration for iteration: the collector gets weights only
    at hand-over, as copies, whatever the timing; another seed differs."""
    from heron.training.toy_env import make_toy_vector_env

    def run(name: str, seed: int) -> list[dict[str, str]]:
        cfg = tiny_cfg(tmp_path, overlap=True, iterations=3, seed=seed,
                       run_dir=str(tmp_path / name))
        return _rows_without_times(Path(train(cfg, make_toy_vector_env, ENV_CONFIG).run_dir))

    a, b, c = run("a", 0), run("b", 0), run("c", 1)
    assert a == b
    assert [int(r["iteration"]) for r in a] == [1, 2, 3]
    assert all(math.isfinite(float(r["policy_loss"])) for r in a)
    assert a != c


def test_overlap_collects_with_the_weights_one_update_old(tmp_path: Path) -> None:
    from heron.training.torchrl.trainer import make_collector
    from heron.training.toy_env import make_toy_vector_env

    cfg = tiny_cfg(tmp_path, overlap=True, normalize_obs=False, extra={"log_std_init": 0.0})
    learner = build_learner(cfg, make_toy_vector_env(ENV_CONFIG, 4), None)
    collector = make_collector(learner, cfg, make_toy_vector_env, ENV_CONFIG)
    try:
        batches = iter(collector)
        first = next(batches).get(("agents", "action"))
        assert first.shape[0] == 4
        with torch.no_grad():                  # "the update": loc 0, scale at its floor
            for name, p in learner.actor.named_parameters():
                p.fill_(-20.0 if "scale" in name else 0.0)
        # batch 2 was under way during the update: it still explores with scale 1
        assert float(next(batches).get(("agents", "action")).abs().max()) > 0.5
        # batch 3 was started after batch 2's hand-over: the new weights
        assert float(next(batches).get(("agents", "action")).abs().max()) < 1e-2
    finally:
        collector.shutdown()


def test_overlap_refuses_several_workers_and_rllib() -> None:
    with pytest.raises(ValueError, match="overlap.*num_workers=2.*drop --overlap"):
        TrainConfig(trainer="torchrl", overlap=True, num_workers=2)
    with pytest.raises(ValueError, match="overlap needs trainer='torchrl'"):
        TrainConfig(trainer="rllib", overlap=True)


def test_potential_shaping_adds_the_discounted_potential_difference() -> None:
    from tensordict import TensorDict

    from heron.training.torchrl.trainer import potential_shaping

    # one copy, 4 steps, 2 agents: step 1 ends the episode, step 2 is the autoreset
    phi = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [7.0, 70.0], [2.0, 20.0]]])
    phi_next = torch.tensor([[[3.0, 30.0], [7.0, 70.0], [2.0, 20.0], [5.0, 50.0]]])
    done = torch.tensor([[False, True, False, False]])
    autoreset = torch.tensor([[False, False, True, False]])
    reward = torch.full((1, 4, 2, 1), -1.0)
    flags = done[..., None, None].expand(1, 4, 2, 1)
    batch = TensorDict({
        "agents": TensorDict({"potential": phi}, batch_size=(1, 4, 2)),
        "next": TensorDict({
            "agents": TensorDict({"potential": phi_next, "reward": reward.clone(),
                                  "done": flags}, batch_size=(1, 4, 2)),
            "autoreset": autoreset,
        }, batch_size=(1, 4)),
    }, batch_size=(1, 4))
    potential_shaping(batch, gamma=0.5, reward_scale=0.1)
    got = batch.get(("next", "agents", "reward")).squeeze(-1)[0]
    expected = torch.tensor([
        [-1 + 0.1 * (0.5 * 3 - 1), -1 + 0.1 * (0.5 * 30 - 10)],
        [-1 + 0.1 * (0.0 - 3), -1 + 0.1 * (0.0 - 30)],        # the episode ended: phi' = 0
        [-1.0, -1.0],                                         # autoreset: untouched
        [-1 + 0.1 * (0.5 * 5 - 2), -1 + 0.1 * (0.5 * 50 - 20)],
    ])
    assert torch.allclose(got, expected)
    # over the episode (steps 0-1, gamma 1) the shaping sums to -phi(s_0) only
    batch.get(("next", "agents")).set("reward", reward.clone())
    potential_shaping(batch, gamma=1.0, reward_scale=1.0)
    shaped = batch.get(("next", "agents", "reward")).squeeze(-1)[0, :2].sum(0)
    assert torch.allclose(shaped - (-2.0), -phi[0, 0])


def test_terminal_episode_end_stops_gae_bootstrapping_at_the_episode_end() -> None:
    from tensordict import TensorDict
    from torchrl.objectives.value.functional import generalized_advantage_estimate

    from heron.training.torchrl.trainer import end_episodes_as_terminal

    # one copy, 3 steps, 2 agents; the episode ends (truncated by its time limit) at step 1
    done = torch.tensor([False, True, False])[None, :, None, None].expand(1, 3, 2, 1)
    batch = TensorDict({"next": TensorDict({"agents": TensorDict(
        {"done": done.clone(), "terminated": torch.zeros_like(done)}, batch_size=(1, 3, 2)),
    }, batch_size=(1, 3))}, batch_size=(1, 3))

    def targets() -> torch.Tensor:
        term = batch.get(("next", "agents", "terminated"))
        per_agent = lambda x: x.permute(0, 2, 1, 3).reshape(2, 3, 1)  # noqa: E731  [A, T, 1]
        value = torch.full((2, 3, 1), 10.0)
        _, target = generalized_advantage_estimate(1.0, 0.95, value, value.clone(),
                                                   torch.ones(2, 3, 1), per_agent(done),
                                                   per_agent(term))
        return target[:, 1, 0]

    assert torch.allclose(targets(), torch.tensor([11.0, 11.0]))  # truncation bootstraps
    end_episodes_as_terminal(batch)
    assert torch.equal(batch.get(("next", "agents", "terminated")), done)
    assert torch.allclose(targets(), torch.tensor([1.0, 1.0]))    # the episode's own reward
