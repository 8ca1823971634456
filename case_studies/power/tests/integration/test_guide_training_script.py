"""The user guide's Step 6.1 RLlib script, end to end on the shipped setup.

Changed from the guide only where RLlib itself changed (docs/troubleshooting.md):
the result key ``episode_return_mean`` and an absolute path for ``algo.save``; and
sizes, so that it runs in about a minute on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

POWER_DIR = Path(__file__).resolve().parents[2]

SCRIPT = '''
import os

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

def env_creator(env_config):
    """Create environment for RLlib."""
    env = MultiAgentMicrogrids(env_config)
    return ParallelPettingZooEnv(env)

def main():
    ray.init(num_cpus=2, include_dashboard=False)
    register_env("multi_agent_microgrids", env_creator)
    env_config = load_setup('ieee34_ieee13')
    env_config.update({
        'train': True,
        'share_reward': True,
        'max_episode_steps': 96,
    })
    temp_env = env_creator(env_config)
    config = (
        PPOConfig()
        .environment(
            env="multi_agent_microgrids",
            env_config=env_config,
        )
        .multi_agent(
            policies={
                'shared_policy': (
                    None,
                    temp_env.observation_space['MG1'],
                    temp_env.action_space['MG1'],
                    {}
                )
            },
            policy_mapping_fn=lambda agent_id, *args: 'shared_policy',
        )
        .training(
            lr=5e-5,
            gamma=0.99,
            train_batch_size=192,
            minibatch_size=96,
            num_epochs=2,
        )
        .env_runners(num_env_runners=1)
    )
    algo = config.build()
    for i in range(2):
        result = algo.train()
        reward = result.get('env_runners', {}).get('episode_return_mean', 0)
        print(f"Iteration {i+1}: Reward = {reward:.2f}")
    checkpoint = algo.save(os.path.abspath('checkpoints/mappo'))
    print("Saved checkpoint:", checkpoint.checkpoint.path)
    algo.stop()
    ray.shutdown()

if __name__ == '__main__':
    main()
'''


def test_the_guides_rllib_script_trains_a_shared_policy(tmp_path):
    script = tmp_path / "05_mappo_training.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=540, env={**__import__("os").environ,
                                                      "PYTHONPATH": str(POWER_DIR)})
    log = out.stdout[-4000:] + out.stderr[-4000:]
    assert out.returncode == 0, log
    rewards = [float(line.rsplit("=", 1)[1]) for line in out.stdout.splitlines()
               if line.startswith("Iteration ")]
    assert len(rewards) == 2, log
    assert all(r == r and abs(r) > 0 for r in rewards), rewards  # real, finite returns
    assert (tmp_path / "checkpoints" / "mappo" / "rllib_checkpoint.json").exists(), log
