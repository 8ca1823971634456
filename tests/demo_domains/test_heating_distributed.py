"""The heating demo runs distributed on heron's machinery alone, bit for bit.

The same :class:`heron.distributed.DistributedHost` and agent loop as the power case
study, no domain code in between: house controllers in threads on the real in-memory
broker, and in their own OS processes over a real redis-server. Each episode equals
the centralized one driven by the same policies (observations, rewards, infos).
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from pathlib import Path

import numpy as np

from heron.distributed import DistributedHost, EpisodeResult
from heron.messaging import InMemoryBroker

DEMO_ROOT = Path(__file__).resolve().parents[2] / "examples" / "heating"
if str(DEMO_ROOT) not in sys.path:  # the demo is a script folder, not an installed package
    sys.path.insert(0, str(DEMO_ROOT))
HeatingEnv = importlib.import_module("heating.env").HeatingEnv
ThermostatPolicy = importlib.import_module("heating.agents").ThermostatPolicy

STEPS = 8
SEED = 5
CONFIG = {"max_episode_steps": STEPS}


def centralized(actions_for) -> tuple[list, list, list, list]:
    """``(observations, rewards, infos, actions)`` of the centralized episode in which
    ``actions_for(t, obs)`` chooses every step's actions."""
    env = HeatingEnv(CONFIG)
    obs, _ = env.reset(seed=SEED)
    observations, rewards, infos, actions = [obs], [], [], []
    while env.agents:
        acts = actions_for(len(rewards), obs)
        obs, rew, _, _, info = env.step(acts)
        observations.append(obs)
        rewards.append(rew)
        infos.append(info)
        actions.append(acts)
    return observations, rewards, infos, actions


def one_episode(host: DistributedHost, agents: list) -> tuple[EpisodeResult, list]:
    """One seeded episode; then the agents (threads or processes) are shut down and the
    host closed, whatever happened. Returns the result and the agents' exit codes."""
    try:
        host.wait_for_agents(timeout_s=60.0)
        result = host.run_episode(seed=SEED)
    finally:
        host.shutdown_agents()
        codes = [a.stop(timeout_s=10.0) for a in agents]
        host.close()
    return result, codes


def assert_equal_episodes(result, observations, rewards, infos) -> None:
    assert len(result.rewards) == STEPS
    for t, obs in enumerate(observations):
        for a, ob in obs.items():
            np.testing.assert_array_equal(result.observations[t][a], ob, err_msg=f"t={t} {a}")
    assert result.rewards == rewards
    assert result.infos == infos


def test_house_controllers_in_threads_on_the_in_memory_broker(tmp_path):
    """Thermostats act on what they observe over the wire; if that were not the env's
    observation bit for bit, their actions, and the whole day, would differ."""
    host = DistributedHost(lambda mode: HeatingEnv(CONFIG, execution=mode),
                           broker=InMemoryBroker(), action_timeout_s=10.0)
    rooms = {a: len(host.env.agent_dict[a].radiators) for a in host.agent_ids}
    threads = host.launch_agent_threads({a: ThermostatPolicy(n) for a, n in rooms.items()},
                                        log_dir=tmp_path)
    result, codes = one_episode(host, threads)
    assert codes == [0] * len(threads), [t.error for t in threads]

    policies = {a: ThermostatPolicy(n) for a, n in rooms.items()}
    observations, rewards, infos, _ = centralized(
        lambda t, obs: {a: policies[a](obs[a]) for a in obs})
    assert_equal_episodes(result, observations, rewards, infos)
    # signed messages, one applied action per agent per step, each the one it sent
    assert host.run_secret is not None and host.forged == [] and host.proxy.rejected == []
    for t in threads:
        sent = [json.loads(line) for line in t.loop.log_path.read_text().splitlines()]
        applied = [r for r in host.applied_log if r["agent"] == t.agent_id]
        assert [(r["step"], r["action"]) for r in sent] == \
               [(r["step"], r["action"]) for r in applied]
        for r in sent:
            np.testing.assert_array_equal(np.asarray(r["obs"], np.float32),
                                          observations[r["step"]][t.agent_id])


def test_house_controllers_as_processes_over_redis(redis_url, tmp_path):
    """``python -m heron.distributed.agent`` per house, replaying fixed actions."""
    env = HeatingEnv(CONFIG)
    rng = np.random.default_rng(1)
    # float32, as a policy's output is (the replay policy casts to the Box's dtype)
    plan = [{a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32).tolist()
             for a in env.possible_agents} for _ in range(STEPS)]
    replay = tmp_path / "plan.json"
    replay.write_text(json.dumps({a: [p[a] for p in plan] for a in env.possible_agents}))

    host = DistributedHost(lambda mode: HeatingEnv(CONFIG, execution=mode),
                           redis_url=redis_url, namespace=f"heat-{uuid.uuid4().hex[:8]}")
    procs = host.launch_agents(policy=f"replay:{replay}", log_dir=tmp_path,
                               idle_timeout_s=60.0)
    result, codes = one_episode(host, procs)
    assert codes == [0] * len(procs), {p.agent_id: p.stderr() for p in procs}
    assert not any("powergrid" in arg for p in procs for arg in p.popen.args)

    observations, rewards, infos, _ = centralized(
        lambda t, obs: {a: np.asarray(plan[t][a]) for a in obs})
    assert_equal_episodes(result, observations, rewards, infos)
    for p in procs:
        assert [r["action"] for r in p.sent()] == [step[p.agent_id] for step in plan]


def test_demo_script_distributed_day_is_the_centralized_day(capsys):
    run_heating = importlib.import_module("run_heating")
    distributed = run_heating.main(["--steps", "4", "--seed", "2", "--distributed"])
    assert "return:" in capsys.readouterr().out
    assert distributed == run_heating.main(["--steps", "4", "--seed", "2"])
