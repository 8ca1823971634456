"""True MAPPO: the actor sees only the local observation, the critic only the global state."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ray")

from ray.rllib.core.columns import Columns  # noqa: E402

from heron.training.config import TrainConfig  # noqa: E402
from heron.training.rllib import SHARED_POLICY_ID, build_config  # noqa: E402
from heron.training.toy_env import ToyRooms, make_toy_env  # noqa: E402
from heron.training.wrappers import wrap_for_algo  # noqa: E402


@pytest.fixture(scope="module")
def module():
    cfg = TrainConfig(algo="mappo-cc", train_batch_size=64, minibatch_size=32,
                      hidden_sizes=(16, 16))
    config, _ = build_config(make_toy_env, {"max_episode_steps": 5}, cfg)
    return config.rl_module_spec.build()[SHARED_POLICY_ID]


def _linears(seq):
    return [m for m in seq if isinstance(m, torch.nn.Linear)]


def test_network_input_sizes(module):
    env = wrap_for_algo(ToyRooms(), "mappo-cc")
    state_dim = ToyRooms().state().shape[0] + 2      # + agent one-hot (rewards not shared)
    local_dim = env.observation_space("house1")["obs"].shape[0]
    assert env.observation_space("house1")["state"].shape == (state_dim,)
    assert _linears(module.critic)[0].in_features == state_dim
    assert _linears(module.actor)[0].in_features == local_dim
    assert local_dim != state_dim


def test_shared_reward_state_has_no_agent_id():
    env = wrap_for_algo(ToyRooms(), "mappo-cc", share_reward=True)
    assert env.observation_space("house1")["state"].shape == ToyRooms().state().shape


def _batch(local, state):
    return {Columns.OBS: {"obs": torch.as_tensor(local, dtype=torch.float32),
                          "state": torch.as_tensor(state, dtype=torch.float32)}}


def test_critic_depends_on_state_only(module):
    rng = np.random.default_rng(0)
    local, state = rng.normal(size=(4, 6)), rng.normal(size=(4, 8))
    with torch.no_grad():
        v = module.compute_values(_batch(local, state))
        v_local_changed = module.compute_values(_batch(local + 5.0, state))
        v_state_changed = module.compute_values(_batch(local, state + 1.0))
    assert v.shape == (4,)
    torch.testing.assert_close(v, v_local_changed)
    assert not torch.allclose(v, v_state_changed)


def test_actor_depends_on_local_obs_only(module):
    rng = np.random.default_rng(1)
    local, state = rng.normal(size=(4, 6)), rng.normal(size=(4, 8))
    out = module.forward_inference(_batch(local, state))[Columns.ACTION_DIST_INPUTS]
    out_state = module.forward_inference(_batch(local, state * 10))[Columns.ACTION_DIST_INPUTS]
    out_local = module.forward_inference(_batch(local + 1.0, state))[Columns.ACTION_DIST_INPUTS]
    assert out.shape == (4, 2 * 2)                    # mean and log-std per action dim
    torch.testing.assert_close(out, out_state)
    assert not torch.allclose(out, out_local)


def test_rejects_env_without_global_state():
    from gymnasium import spaces

    from heron.training.modules import CentralizedCriticTorchModule

    with pytest.raises(ValueError, match="GlobalStateObservation"):
        CentralizedCriticTorchModule(observation_space=spaces.Box(-1, 1, (3,)),
                                     action_space=spaces.Box(-1, 1, (1,)), model_config={})
