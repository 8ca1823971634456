"""Distributed mode on a real redis-server, with every agent in its own OS process.

No mocks: the host (physics + proxy) runs in the test process, each microgrid
controller runs ``python -m powergrid.distributed.agent_process`` and replays a fixed
list of actions, and every episode is compared with a centralized one driven by the
same actions. The fault tests restart the server, kill an agent and inject junk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import redis

from heron.messaging import BrokerError, Message
from heron.messaging.redis import RedisBroker
from heron.scheduling import default_action_for
from heron.testing.redis_service import free_port
from powergrid.distributed import AgentProcess, AgentTimeoutError, DistributedEnvHost
from powergrid.distributed.runner import launch_agents
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

STEPS = 5
SEED = 3
PROXY_INBOX = "agent.proxy.inbox"


@dataclass
class Reference:
    """A centralized episode and the actions that drove it."""

    config: dict
    actions: list[dict[str, np.ndarray]]
    observations: list[dict[str, np.ndarray]]
    rewards: list[dict[str, float]]
    infos: list[dict[str, dict]]
    replay_file: Path


def centralized_episode(config: dict, actions: list[dict[str, np.ndarray]],
                        env: MultiAgentMicrogrids | None = None):
    env = env or MultiAgentMicrogrids(dict(config, centralized=True))
    obs, _ = env.reset(seed=SEED)
    observations, rewards, infos = [obs], [], []
    for acts in actions:
        obs, rew, _, _, info = env.step(acts)
        observations.append(obs)
        rewards.append(rew)
        infos.append(info)
    return observations, rewards, infos


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    config = load_setup("ieee34_ieee13", validate=False)
    config["max_episode_steps"] = STEPS
    env = MultiAgentMicrogrids(dict(config, centralized=True))
    rng = np.random.default_rng(11)
    actions = []
    for _ in range(STEPS):
        actions.append({a: rng.uniform(env.action_space(a).low, env.action_space(a).high)
                        .astype(np.float32) for a in env.possible_agents})
    observations, rewards, infos = centralized_episode(config, actions, env)
    replay = tmp_path_factory.mktemp("replay") / "actions.json"
    replay.write_text(json.dumps({a: [acts[a].tolist() for acts in actions]
                                  for a in env.possible_agents}))
    return Reference(config, actions, observations, rewards, infos, replay)


@pytest.fixture
def namespace() -> str:
    return f"dist-{uuid.uuid4().hex[:8]}"  # isolates tests that share the session server


@contextlib.contextmanager
def deployment(reference: Reference, redis_url: str, namespace: str, log_dir: Path,
               agents: list[str] | None = None, connect_timeout_s: float = 10.0,
               **host_kw) -> Iterator[tuple[DistributedEnvHost, dict[str, AgentProcess]]]:
    """A host in this process plus one agent process per agent, torn down afterwards."""
    cfg = dict(reference.config, message_broker="redis", redis_url=redis_url)
    host = DistributedEnvHost(cfg, namespace=namespace, connect_timeout_s=connect_timeout_s,
                              **host_kw)
    agents = agents or host.agent_ids
    procs = launch_agents(agents, redis_url, namespace=namespace,
                          policy=f"replay:{reference.replay_file}", log_dir=log_dir,
                          connect_timeout_s=connect_timeout_s, idle_timeout_s=60.0)
    try:
        host.wait_for_agents(timeout_s=60.0, agents=agents)
        yield host, {p.agent_id: p for p in procs}
    finally:
        with contextlib.suppress(Exception):
            host.shutdown_agents()
        for p in procs:
            p.stop(timeout_s=10.0)
        host.close()


def assert_matches_reference(result, reference: Reference, ignore_info: tuple = ()) -> None:
    assert len(result.rewards) == STEPS
    for t in range(STEPS + 1):
        for a, ob in reference.observations[t].items():
            np.testing.assert_array_equal(result.observations[t][a], ob, err_msg=f"t={t} {a}")
    for t in range(STEPS):
        assert result.rewards[t] == reference.rewards[t], f"t={t}"
        got = {a: {k: v for k, v in i.items() if k not in ignore_info}
               for a, i in result.infos[t].items()}
        assert got == reference.infos[t], f"t={t}"


def assert_each_action_applied_once(host: DistributedEnvHost, procs: dict[str, AgentProcess],
                                    reference: Reference) -> None:
    """The host's applied log equals each agent's sent log: nothing lost, nothing doubled."""
    for agent, proc in procs.items():
        sent = proc.sent()
        applied = [r for r in host.applied_log if r["agent"] == agent]
        assert [(r["episode"], r["step"]) for r in applied] == \
               [(host.episode, t) for t in range(STEPS)]
        assert [(r["episode"], r["step"], r["action"]) for r in sent] == \
               [(r["episode"], r["step"], r["action"]) for r in applied]
        # what the agent observed over the wire is what the centralized env observed
        for r in sent:
            np.testing.assert_array_equal(np.asarray(r["obs"], dtype=np.float32),
                                          reference.observations[r["step"]][agent])
        np.testing.assert_array_equal(
            np.asarray([r["action"] for r in sent], dtype=np.float32),
            np.asarray([acts[agent] for acts in reference.actions]))


def test_multiprocess_redis_episode_matches_centralized(reference, redis_url, namespace,
                                                        tmp_path):
    with deployment(reference, redis_url, namespace, tmp_path) as (host, procs):
        assert all(p.alive() for p in procs.values())
        result = host.run_episode(seed=SEED)
        assert_matches_reference(result, reference)
        assert_each_action_applied_once(host, procs, reference)
        assert host.proxy.rejected == []
    assert all(p.popen.returncode == 0 for p in procs.values()), \
        {a: p.stderr() for a, p in procs.items()}


def test_in_process_env_on_redis_matches_centralized(reference, redis_url):
    # the config alone selects Redis: message_broker + redis_url, no host involved
    env = MultiAgentMicrogrids(dict(reference.config, centralized=False,
                                    message_broker="redis", redis_url=redis_url))
    try:
        assert isinstance(env.message_broker, RedisBroker)
        obs, _ = env.reset(seed=SEED)
        for t, acts in enumerate(reference.actions):
            obs, rew, _, _, info = env.step(acts)
            assert rew == reference.rewards[t] and info == reference.infos[t]
            for a in obs:
                np.testing.assert_array_equal(obs[a], reference.observations[t + 1][a])
    finally:
        env.close()


def test_unreachable_redis_names_url_and_make_redis_up(reference):
    url = f"redis://127.0.0.1:{free_port()}/0"
    t0 = time.monotonic()
    with pytest.raises(BrokerError) as err:
        DistributedEnvHost(dict(reference.config, message_broker="redis", redis_url=url),
                           connect_timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    assert url in str(err.value) and "make redis-up" in str(err.value)


def test_in_memory_broker_is_refused_for_agent_processes(reference):
    with pytest.raises(ValueError, match="message_broker: redis"):
        DistributedEnvHost(dict(reference.config, message_broker="in_memory"))


def server_run_id(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return client.info("server")["run_id"]
    finally:
        client.close()


def test_redis_restart_mid_episode_loses_and_doubles_nothing(reference, redis_server,
                                                             namespace, tmp_path):
    run_ids = [server_run_id(redis_server.url)]

    def restart_on_tick(t: int) -> None:
        if t == 2:  # the agents are requesting state and acting right now
            redis_server.restart()  # AOF (appendfsync always) keeps streams and groups
            run_ids.append(server_run_id(redis_server.url))

    with deployment(reference, redis_server.url, namespace, tmp_path,
                    connect_timeout_s=20.0) as (host, procs):
        result = host.run_episode(seed=SEED, on_tick=restart_on_tick)
        assert len(run_ids) == 2 and run_ids[0] != run_ids[1]  # it really was a new server
        assert_matches_reference(result, reference)
        assert_each_action_applied_once(host, procs, reference)
    assert all(p.popen.returncode == 0 for p in procs.values()), \
        {a: p.stderr() for a, p in procs.items()}
    # agents blocked on the server when it went away rode the outage out
    assert any("reconnecting" in p.stderr() for p in procs.values())


def test_runner_cli_runs_an_episode(redis_url, namespace, tmp_path, capsys):
    from powergrid.distributed.runner import main

    rc = main(["--redis-url", redis_url, "--namespace", namespace, "--steps", "2",
               "--policy", "random", "--log-dir", str(tmp_path)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and set(summary["return"]) == {"MG1", "MG2", "MG3"}
    for agent in ("MG1", "MG2", "MG3"):
        lines = (tmp_path / f"{agent}.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in lines] == [0, 1]


def test_killed_agent_is_named_within_the_timeout(reference, redis_url, namespace, tmp_path):
    timeout = 2.0
    with deployment(reference, redis_url, namespace, tmp_path,
                    action_timeout_s=timeout, retick_s=0.5) as (host, procs):
        host.reset(seed=SEED)
        host.step()
        host.step()
        procs["MG2"].popen.kill()
        procs["MG2"].popen.wait(timeout=10)
        t0 = time.monotonic()
        with pytest.raises(AgentTimeoutError) as err:
            host.step()
        elapsed = time.monotonic() - t0
    assert err.value.missing == ["MG2"]
    assert "MG2" in str(err.value) and "MG1" not in str(err.value)
    assert timeout <= elapsed < timeout + 2.0


def test_missing_agent_hold_fallback_flags_infos(reference, redis_url, namespace, tmp_path):
    # MG3's process never starts: with on_missing="hold" the episode runs on with MG3's
    # neutral action, flagged in its infos, and is exactly the centralized episode in
    # which MG3 sends that neutral action.
    with deployment(reference, redis_url, namespace, tmp_path, agents=["MG1", "MG2"],
                    on_missing="hold", action_timeout_s=0.4, retick_s=0.2) as (host, _):
        result = host.run_episode(seed=SEED)
        neutral = default_action_for(host.env.action_space("MG3"))
    assert [h[1:] for h in host.held_log] == [(t, "MG3") for t in range(STEPS)]
    for infos in result.infos:
        assert infos["MG3"]["action_held"] is True
        assert "action_held" not in infos["MG1"] and "action_held" not in infos["MG2"]
    actions = [dict(acts, MG3=neutral) for acts in reference.actions]
    held_ref = Reference(reference.config, actions,
                         *centralized_episode(reference.config, actions), reference.replay_file)
    assert_matches_reference(result, held_ref, ignore_info=("action_held",))


def test_hostile_messages_mid_episode_are_rejected_and_logged(reference, redis_url, namespace,
                                                              tmp_path, caplog):
    raw = redis.Redis.from_url(redis_url)
    intruder = RedisBroker(redis_url, namespace=namespace)
    stream = f"{namespace}:{PROXY_INBOX}"

    def inject(t: int) -> None:
        if t != 2:
            return
        ep = host.episode
        raw.xadd(stream, {"seq": "7", "data": b"{not json"})                  # malformed
        raw.xadd(stream, {"seq": "8", "data": b"x" * 70_000})                 # oversized

        def send(sender: str, msg_type: str, payload: dict) -> None:
            intruder.publish(Message(sender=sender, topic=PROXY_INBOX, type=msg_type,
                                     payload=payload, recipient="proxy"))

        send("intruder", "action", {"action": [1.0, 1.0, 1.0], "episode": ep, "step": t})
        send("MG1", "action", {"action": "rm -rf /", "episode": ep, "step": t})
        send("MG1", "action", {"action": [9.0] * 7, "episode": ep, "step": t})
        send("MG1", "action", {"action": [1.0, 1.0, 1.0], "episode": ep, "step": 0})
        send("MG1", "state_request", {"owners": 5})
        send("MG1", "reboot", {})
        host._send_ticks(host.agent_ids, again=True)  # a duplicate tick: same action again

    try:
        # retick_s: no automatic re-ticks, so the only duplicate tick is the injected one
        with deployment(reference, redis_url, namespace, tmp_path, retick_s=30.0,
                        max_message_bytes=64 * 1024) as (host, procs):
            with caplog.at_level(logging.WARNING):
                result = host.run_episode(seed=SEED, on_tick=inject)
            assert_matches_reference(result, reference)  # none of it was applied
            assert_each_action_applied_once(host, procs, reference)
            reasons = dict(host.proxy.rejected)
            assert "intruder" in reasons and "unknown sender" in reasons["intruder"]
            mg1 = [r for s, r in host.proxy.rejected if s == "MG1"]
            assert any("must be a list" in r for r in mg1)
            assert any("owners" in r for r in mg1)
            assert any("unknown message type" in r for r in mg1)
            assert any("step 0" in r for s, r in host.proxy.dropped if s == "MG1")
            # the oversized/garbled 7-value action was refused or dropped, never applied
            assert any("7 values" in r for s, r in host.proxy.rejected) or \
                any("duplicate" in r for s, r in host.proxy.dropped)
    finally:
        intruder.close()
        raw.close()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "not valid JSON" in logged and "oversized" in logged
    assert "unknown sender 'intruder'" in logged
    # every agent answered the duplicate tick of step 2 by re-sending its step-2 action
    for proc in procs.values():
        resent = [r for r in proc.sent(include_resends=True) if r["event"] == "resend"]
        assert [r["step"] for r in resent] == [2]


def test_step_sync_proxy_accepts_one_tagged_action_per_step():
    # the filter itself, in memory: fast and deterministic
    from heron.agents.base import Agent
    from heron.messaging import InMemoryBroker
    from powergrid.distributed import StepSyncProxy

    broker = InMemoryBroker()
    proxy = StepSyncProxy(broker, {"MG1": 2})
    for a in ("MG1", "dev1"):
        proxy.register(a, level=2 if a == "MG1" else 1)
    mg1, dev = Agent("MG1", message_broker=broker), Agent("dev1", message_broker=broker)

    def act(agent: Agent, values: list[float], episode: str = "e1", step: int = 4) -> None:
        agent.send("proxy", "action", {"action": values, "episode": episode, "step": step})

    proxy.begin_step("e1", 4)
    mg1.send("proxy", "hello", {})
    act(mg1, [0.1, 0.2], step=3)            # late answer to the previous tick
    act(mg1, [0.1, 0.2], episode="e0")      # from an earlier episode
    act(mg1, [1.0, 2.0, 3.0])               # wrong size
    act(dev, [0.0])                         # a device does not act on its own
    mg1.send("proxy", "action", {"action": [0.5, 0.5]})  # untagged
    act(mg1, [0.3, 0.4])                    # the one
    act(mg1, [0.9, 0.9])                    # a duplicate for the same step
    assert proxy.collect_actions(["MG1"])["MG1"].tolist() == [0.3, 0.4]
    assert proxy.ready == {"MG1"}
    assert [m.type for m in mg1.receive()] == ["welcome"]
    assert len(proxy.dropped) == 3 and "duplicate" in proxy.dropped[-1][1]
    assert [s for s, _ in proxy.rejected] == ["MG1", "dev1", "MG1"]
    with pytest.raises(AgentTimeoutError, match="MG1") as err:
        proxy.collect_actions(["MG1"], timeout_s=0.05)
    assert err.value.missing == ["MG1"]


def test_redis_restart_without_persistence_is_named_and_survived(reference, spare_redis_server,
                                                                 namespace, tmp_path, caplog):
    """Regression: a server without AOF restarted mid-episode used to end the host with
    ``UnknownTopicError: ... Declare it with create_topic()``. Now every broker says the
    server lost its data, re-declares what it owns, and the lock-step protocol (re-sent
    ticks, agents re-sending the same action) finishes the episode exactly."""
    restarted = []

    def restart_on_tick(t: int) -> None:
        if t == 2:
            spare_redis_server.restart()  # --appendonly no: every stream and group is gone
            restarted.append(t)

    with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"), \
            deployment(reference, spare_redis_server.url, namespace, tmp_path,
                       connect_timeout_s=20.0) as (host, procs):
        result = host.run_episode(seed=SEED, on_tick=restart_on_tick)
        assert restarted == [2]
        assert_matches_reference(result, reference)
        assert_each_action_applied_once(host, procs, reference)
        assert host.broker.data_losses >= 1
    assert "lost its data" in caplog.text and "--appendonly yes" in caplog.text
    assert all(p.popen.returncode == 0 for p in procs.values()), \
        {a: p.stderr() for a, p in procs.items()}
    assert spare_redis_server.password not in caplog.text
