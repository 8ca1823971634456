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
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import redis

from heron.messaging import BrokerError, Message
from heron.messaging.auth import SignedBroker
from heron.messaging.redis import RedisBroker
from heron.scheduling import default_action_for
from heron.testing.redis_service import free_port
from powergrid.distributed import (
    AgentProcess,
    AgentTimeoutError,
    BadActionError,
    DistributedEnvHost,
)
from powergrid.distributed.runner import launch_agents
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import get_available_setups, load_setup

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
               replay: Path | None = None, **host_kw) -> Iterator[tuple[DistributedEnvHost, dict[str, AgentProcess]]]:
    """A host in this process plus one agent process per agent, torn down afterwards."""
    cfg = dict(reference.config, message_broker="redis", redis_url=redis_url)
    host = DistributedEnvHost(cfg, namespace=namespace, connect_timeout_s=connect_timeout_s,
                              **host_kw)
    agents = agents or host.agent_ids
    procs = host.launch_agents(agents, policy=f"replay:{replay or reference.replay_file}",
                               log_dir=log_dir, connect_timeout_s=connect_timeout_s,
                               idle_timeout_s=60.0)
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


def _setup_reference(setup: str, tmp_path: Path) -> Reference:
    config = load_setup(setup, validate=False)
    config["max_episode_steps"] = STEPS
    env = MultiAgentMicrogrids(dict(config, centralized=True))
    rng = np.random.default_rng(5)
    actions = [{a: rng.uniform(-1.2, 1.2, env.action_space(a).shape).astype(np.float32)
                for a in env.possible_agents} for _ in range(STEPS)]
    observations, rewards, infos = centralized_episode(config, actions, env)
    replay = tmp_path / "actions.json"
    replay.write_text(json.dumps({a: [acts[a].tolist() for acts in actions]
                                  for a in env.possible_agents}))
    return Reference(config, actions, observations, rewards, infos, replay)


@pytest.mark.parametrize("setup", get_available_setups())
def test_every_shipped_setup_on_redis_matches_centralized(setup, redis_url, namespace,
                                                          tmp_path):
    """Redis mode, agents in their own processes, bit for bit against the centralized
    run on every shipped setup (which test_valid_actions_unchanged pins to the
    trajectories recorded before the refactors)."""
    ref = _setup_reference(setup, tmp_path)
    with deployment(ref, redis_url, namespace, tmp_path / "logs") as (host, procs):
        result = host.run_episode(seed=SEED)
        assert_matches_reference(result, ref)
        assert host.proxy.rejected == []
    assert all(p.popen.returncode == 0 for p in procs.values()), \
        {a: p.stderr() for a, p in procs.items()}


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
    assert summary["messages_forged"] == 0 and summary["actions_unusable"] == 0
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
    outsider = RedisBroker(redis_url, namespace=namespace)  # has the password, not the secret
    insider: SignedBroker | None = None  # has the secret too (a buggy process of this run)
    stream = f"{namespace}:{PROXY_INBOX}"

    def inject(t: int) -> None:
        if t != 2:
            return
        ep = host.episode
        raw.xadd(stream, {"seq": "7", "data": b"{not json"})                  # malformed
        raw.xadd(stream, {"seq": "8", "data": b"x" * 70_000})                 # oversized

        def send(broker, sender: str, msg_type: str, payload: dict) -> None:
            broker.publish(Message(sender=sender, topic=PROXY_INBOX, type=msg_type,
                                   payload=payload, recipient="proxy"))

        # unsigned: dropped by the authenticity check before the proxy sees them
        send(outsider, "intruder", "action", {"action": [1.0, 1.0, 1.0], "episode": ep,
                                              "step": t})
        send(outsider, "MG1", "action", {"action": [9.0] * 3, "episode": ep, "step": t})
        # signed but wrong: the proxy's own checks reject them
        send(insider, "intruder", "action", {"action": [1.0, 1.0, 1.0], "episode": ep,
                                             "step": t})
        send(insider, "MG1", "action", {"action": "rm -rf /"})
        send(insider, "MG1", "action", {"action": [1.0, 1.0, 1.0], "episode": ep, "step": 0})
        send(insider, "MG1", "state_request", {"owners": 5})
        send(insider, "MG1", "reboot", {})
        host._send_ticks(host.agent_ids, again=True)  # a duplicate tick: same action again

    try:
        # retick_s: no automatic re-ticks, so the only duplicate tick is the injected one
        with deployment(reference, redis_url, namespace, tmp_path, retick_s=30.0,
                        max_message_bytes=64 * 1024) as (host, procs):
            insider = SignedBroker(RedisBroker(redis_url, namespace=namespace),
                                   host.run_secret)
            with caplog.at_level(logging.WARNING):
                result = host.run_episode(seed=SEED, on_tick=inject)
            assert_matches_reference(result, reference)  # none of it was applied
            assert_each_action_applied_once(host, procs, reference)
            assert [(r.sender, r.type) for r in host.forged] == [("intruder", "action"),
                                                                  ("MG1", "action")]
            assert all("unsigned" in r.reason for r in host.forged)
            reasons = dict(host.proxy.rejected)
            assert "intruder" in reasons and "unknown sender" in reasons["intruder"]
            mg1 = [r for s, r in host.proxy.rejected if s == "MG1"]
            assert any("without an (episode, step) tag" in r for r in mg1)
            assert any("owners" in r for r in mg1)
            assert any("unknown message type" in r for r in mg1)
            assert any("step 0" in r for s, r in host.proxy.dropped if s == "MG1")
            assert host.bad_actions == [] and host.held_log == []
    finally:
        outsider.close()
        if insider is not None:
            insider.close()
        raw.close()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "not valid JSON" in logged and "oversized" in logged
    assert "unknown sender 'intruder'" in logged
    assert "claiming to be from 'intruder': unsigned" in logged
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
    act(dev, [0.0])                         # a device does not act on its own
    mg1.send("proxy", "action", {"action": [0.5, 0.5]})  # untagged
    act(mg1, [0.3, 0.4])                    # the one
    act(mg1, [0.9, 0.9])                    # a duplicate for the same step
    assert proxy.collect_actions(["MG1"])["MG1"].tolist() == [0.3, 0.4]
    assert proxy.ready == {"MG1"}
    assert [m.type for m in mg1.receive()] == ["welcome"]
    assert len(proxy.dropped) == 3 and "duplicate" in proxy.dropped[-1][1]
    assert [s for s, _ in proxy.rejected] == ["dev1", "MG1"]
    with pytest.raises(AgentTimeoutError, match="MG1") as err:
        proxy.collect_actions(["MG1"], timeout_s=0.05)
    assert err.value.missing == ["MG1"] and not isinstance(err.value, BadActionError)


@pytest.mark.parametrize("action, why", [
    ([float("nan"), 0.0], "NaN or Infinity"),
    ([float("inf"), 0.0], "NaN or Infinity"),
    ([None, 0.0], "null"),
    ([0.1, 0.2, 0.3], "3 values, expected 2"),
    (["0.1", "0.2"], "not numbers"),
    ([True, 0.0], "not numbers"),
    ("rm -rf /", "must be a list"),
])
def test_step_sync_proxy_unusable_answer_counts_as_silent_at_once(action, why):
    # the answer is the agent's one answer for the step: a later copy cannot replace it,
    # and the proxy does not wait for the timeout (the same answer would only come again)
    from heron.agents.base import Agent
    from heron.messaging import InMemoryBroker
    from powergrid.distributed import StepSyncProxy

    broker = InMemoryBroker()
    proxy = StepSyncProxy(broker, {"MG1": 2, "MG2": 2})
    for a in ("MG1", "MG2"):
        proxy.register(a, level=2)
    mg1, mg2 = Agent("MG1", message_broker=broker), Agent("MG2", message_broker=broker)
    proxy.begin_step("e1", 4)
    mg1.send("proxy", "action", {"action": action, "episode": "e1", "step": 4})
    mg1.send("proxy", "action", {"action": [0.5, 0.5], "episode": "e1", "step": 4})
    mg2.send("proxy", "action", {"action": [0.1, 0.2], "episode": "e1", "step": 4})
    t0 = time.monotonic()
    with pytest.raises(BadActionError) as err:
        proxy.collect_actions(["MG1", "MG2"], timeout_s=30.0)
    assert time.monotonic() - t0 < 5.0
    assert err.value.missing == ["MG1"] and list(err.value.bad) == ["MG1"]
    assert why in err.value.bad["MG1"][1] and why in str(err.value)
    assert "MG1" in str(err.value) and "step 4" in str(err.value)
    assert err.value.received["MG2"].tolist() == [0.1, 0.2]
    assert any(why in r and "step 4" in r for s, r in proxy.rejected if s == "MG1")
    assert "duplicate" in proxy.dropped[-1][1]


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


# --- defects of issue 18: one bad or forged message must not stop the deployment ------
def write_replay(reference: Reference, path: Path,
                 overrides: dict[tuple[str, int], list]) -> Path:
    """The reference's replay file with some ``(agent, step)`` actions replaced."""
    actions = {a: [acts[a].tolist() for acts in reference.actions]
               for a in reference.actions[0]}
    for (agent, step), value in overrides.items():
        actions[agent][step] = value
    path.write_text(json.dumps(actions))  # NaN and Infinity as JSON's extensions
    return path


def held_reference(reference: Reference, held: list[tuple[str, int]]) -> Reference:
    """The centralized episode in which each held ``(agent, step)`` repeats that agent's
    previous applied action (the reference's, or the last held one)."""
    actions = [dict(acts) for acts in reference.actions]
    for agent, step in sorted(held, key=lambda h: h[1]):
        actions[step][agent] = actions[step - 1][agent]
    return Reference(reference.config, actions, *centralized_episode(reference.config, actions),
                     reference.replay_file)


def test_unusable_actions_are_rejected_logged_and_held(reference, redis_url, namespace,
                                                       tmp_path, caplog):
    """Regression: ``[NaN, 0, 0]`` from an agent process ended ``run_episode`` with
    ActionError. Now NaN, Infinity and a wrong-length action from the real agent
    processes, and JSON null and strings on the wire, are each rejected and logged
    (agent, step, value), recorded in ``bad_actions``, and that agent's last applied
    action is held for the step; the episode equals the centralized one with those
    holds, bit for bit."""
    replay = write_replay(reference, tmp_path / "bad.json", {
        ("MG1", 1): [float("nan"), 0.0, 0.0],
        ("MG1", 2): [float("inf"), 0.0, 0.0],
        ("MG2", 3): [0.1, 0.2],
    })
    assert "NaN" in replay.read_text() and "Infinity" in replay.read_text()
    stream = f"{namespace}:agent.proxy.inbox"
    raw = redis.Redis.from_url(redis_url)
    insider: SignedBroker | None = None

    def inject(t: int) -> None:
        # MG3's real process cannot answer before this returns (it needs the host's
        # state_response first), so these are MG3's and MG2's answers for the step
        if t == 4:
            insider.publish(Message(sender="MG3", topic=PROXY_INBOX, type="action",
                                    payload={"action": [None, 0.0, 0.0],
                                             "episode": host.episode, "step": t}))
        if t == 1:
            insider.publish(Message(sender="MG2", topic=PROXY_INBOX, type="action",
                                    payload={"action": ["a", "b", "c"],
                                             "episode": host.episode, "step": t}))

    try:
        with caplog.at_level(logging.WARNING), \
                deployment(reference, redis_url, namespace, tmp_path, replay=replay,
                           on_missing="hold", action_timeout_s=20.0) as (host, procs):
            insider = SignedBroker(RedisBroker(redis_url, namespace=namespace),
                                   host.run_secret)
            t0 = time.monotonic()
            result = host.run_episode(seed=SEED, on_tick=inject)
            assert time.monotonic() - t0 < 20.0  # no step waited for the timeout
            assert all(p.alive() for p in procs.values())
            wire = [json.loads(f[b"data"]) for _, f in raw.xrange(stream)
                    if b"data" in f and b'"type":"action"' in f[b"data"]]
    finally:
        if insider is not None:
            insider.close()
        raw.close()
    held = [("MG1", 1), ("MG2", 1), ("MG1", 2), ("MG2", 3), ("MG3", 4)]
    assert sorted((b["agent"], b["step"]) for b in host.bad_actions) == sorted(held)
    assert sorted((a, t) for _, t, a in host.held_log) == sorted(held)
    why = {(b["agent"], b["step"]): b["reason"] for b in host.bad_actions}
    assert "NaN or Infinity" in why["MG1", 1] and "NaN or Infinity" in why["MG1", 2]
    assert "2 values, expected 3" in why["MG2", 3]
    assert "null" in why["MG3", 4] and "not numbers" in why["MG2", 1]
    # what arrived on the wire really was NaN / Infinity / null (JSON's spellings)
    texts = [json.dumps(m["payload"]["action"]) for m in wire]
    assert "[NaN, 0.0, 0.0]" in texts and "[Infinity, 0.0, 0.0]" in texts
    assert "[null, 0.0, 0.0]" in texts
    for (agent, step) in held:
        info = result.infos[step][agent]
        assert info["action_held"] is True and info["action_rejected"] == why[agent, step]
    assert_matches_reference(result, held_reference(reference, held),
                             ignore_info=("action_held", "action_rejected"))
    logged = caplog.text
    assert "MG1" in logged and "step 1" in logged and "[nan, 0.0, 0.0]" in logged
    assert "[None, 0.0, 0.0]" in logged and "counts as silent" in logged
    assert all(p.popen.returncode == 0 for p in procs.values()), \
        {a: p.stderr() for a, p in procs.items()}


def test_unusable_action_with_raise_is_a_clear_stop(reference, redis_url, namespace, tmp_path):
    replay = write_replay(reference, tmp_path / "bad.json",
                          {("MG2", 1): [float("nan"), 0.0, 0.0]})
    with deployment(reference, redis_url, namespace, tmp_path, replay=replay,
                    action_timeout_s=20.0) as (host, procs):
        host.reset(seed=SEED)
        host.step()
        t0 = time.monotonic()
        with pytest.raises(BadActionError) as err:
            host.step()
        assert time.monotonic() - t0 < 10.0  # at once, not after action_timeout_s
        assert all(p.alive() for p in procs.values())
    assert isinstance(err.value, AgentTimeoutError)  # handled like a silent agent
    assert err.value.missing == ["MG2"] and list(err.value.bad) == ["MG2"]
    text = str(err.value)
    assert "MG2" in text and "step 1" in text and "nan" in text and "NaN or Infinity" in text
    assert "MG1" not in text and "MG3" not in text
    assert [(b["agent"], b["step"]) for b in host.bad_actions] == [("MG2", 1)]
    assert [r["step"] for r in host.applied_log if r["agent"] == "MG2"] == [0]


def test_poisoned_sequence_number_silences_nobody(reference, redis_url, namespace, tmp_path,
                                                  caplog):
    """Regression: one raw entry with ``seq=10**12`` made the duplicate filter drop every
    later message, so the host reported live agents as dead in every later episode.
    Now the entry is dropped and logged (its seq is above the topic's counter) and both
    episodes run exactly as the centralized one."""
    raw = redis.Redis.from_url(redis_url)
    body = {"sender": "MG1", "topic": PROXY_INBOX, "type": "hello", "payload": {},
            "recipient": "proxy", "timestamp": 0.0}

    def poison(t: int) -> None:
        if t == 1 and len(host.applied_log) < 3 * STEPS:  # first episode only
            raw.xadd(f"{namespace}:{PROXY_INBOX}",
                     {"seq": str(10**12), "data": json.dumps(body)})
            tick = dict(body, sender="proxy", topic="agent.MG2.inbox", type="tick",
                        recipient="MG2")
            raw.xadd(f"{namespace}:agent.MG2.inbox",
                     {"seq": str(10**12), "data": json.dumps(tick)})

    try:
        with caplog.at_level(logging.WARNING, logger="heron.messaging.redis"), \
                deployment(reference, redis_url, namespace, tmp_path,
                           action_timeout_s=15.0) as (host, procs):
            results = [host.run_episode(seed=SEED, on_tick=poison) for _ in range(2)]
            assert host.broker.dropped_entries == 1  # the host's own inbox entry
    finally:
        raw.close()
    # the env warm-starts each reset's power flow from the last solution, so the second
    # episode is compared with a centralized env's second episode
    env = MultiAgentMicrogrids(dict(reference.config, centralized=True))
    for result in results:
        expected = Reference(reference.config, reference.actions,
                             *centralized_episode(reference.config, reference.actions, env),
                             reference.replay_file)
        assert_matches_reference(result, expected)
    assert host.held_log == [] and host.bad_actions == []
    episodes = [r.episode for r in results]
    for agent in host.agent_ids:
        applied = [(r["episode"], r["step"]) for r in host.applied_log if r["agent"] == agent]
        assert applied == [(e, t) for e in episodes for t in range(STEPS)]
    assert f"seq {10**12} is above the topic's counter" in caplog.text
    assert "above the topic's counter" in procs["MG2"].stderr()
    assert all(p.popen.returncode == 0 for p in procs.values()), \
        {a: p.stderr() for a, p in procs.items()}


def test_forged_and_badly_signed_messages_change_nothing(reference, redis_url, namespace,
                                                         tmp_path, caplog):
    """Regression: a forged ``tick`` for step t+1 desynced an agent for the rest of the
    episode and a forged ``shutdown`` ended every agent. Now messages are signed with
    the run secret: unsigned, wrongly signed, tampered and replayed ones are dropped,
    logged and counted on both sides, and the episode is exactly the centralized one."""
    outsider = RedisBroker(redis_url, namespace=namespace)  # the Redis password only
    wrong_key: SignedBroker | None = None

    def to(agent: str) -> str:
        return f"agent.{agent}.inbox"

    def forge(t: int) -> None:
        if t != 2:
            return
        tick = host._tick_payload("MG1") | {"step": t + 1}
        outsider.publish(Message(sender="proxy", topic=to("MG1"), type="tick",
                                 payload=tick, recipient="MG1"))
        for agent in host.agent_ids:
            outsider.publish(Message(sender="proxy", topic=to(agent), type="shutdown",
                                     payload={"reason": "forged"}, recipient=agent))
        wrong_key.publish(Message(sender="proxy", topic=to("MG2"), type="tick",
                                  payload=host._tick_payload("MG2") | {"step": t + 1},
                                  recipient="MG2"))
        wrong_key.publish(Message(sender="MG3", topic=PROXY_INBOX, type="action",
                                  payload={"action": [1.0, 1.0, 1.0], "episode": host.episode,
                                           "step": t}, recipient="proxy"))
        # a genuine message, tampered with: MG1's signed step-1 action re-tagged for now
        raw = redis.Redis.from_url(redis_url)
        try:
            entries = [json.loads(f[b"data"]) for _, f in
                       raw.xrange(f"{namespace}:{PROXY_INBOX}")]
            genuine = next(m for m in entries if m["sender"] == "MG1" and
                           m["type"] == "action" and m["payload"]["step"] == 1)
            sent_tick = next(json.loads(f[b"data"]) for _, f in
                             raw.xrange(f"{namespace}:{to('MG1')}")
                             if b'"type":"tick"' in f[b"data"])
        finally:
            raw.close()
        tampered = dict(genuine, payload=dict(genuine["payload"], step=t,
                                              action=[-1.0, -1.0, -1.0]))
        outsider.publish(Message.from_dict(tampered))
        outsider.publish(Message.from_dict(sent_tick))  # a verbatim replay, new broker seq

    try:
        with caplog.at_level(logging.WARNING, logger="heron.messaging.auth"), \
                deployment(reference, redis_url, namespace, tmp_path) as (host, procs):
            wrong_key = SignedBroker(RedisBroker(redis_url, namespace=namespace),
                                     "not-this-runs-secret-" + "0" * 32)
            result = host.run_episode(seed=SEED, on_tick=forge)
            assert_matches_reference(result, reference)
            assert_each_action_applied_once(host, procs, reference)
            assert all(p.alive() for p in procs.values())  # the forged shutdown did nothing
            forged_at_host = [(r.sender, r.reason.split(" (")[0]) for r in host.forged]
            assert forged_at_host == [("MG3", "bad signature"), ("MG1", "bad signature")]
            assert host.bad_actions == [] and host.held_log == []
    finally:
        outsider.close()
        if wrong_key is not None:
            wrong_key.close()
    assert all(p.popen.returncode == 0 for p in procs.values()), \
        {a: p.stderr() for a, p in procs.items()}
    events = {a: [(r["type"], r["reason"].split(" (")[0]) for r in p.forged()]
              for a, p in procs.items()}
    assert sorted(events["MG1"]) == sorted([("tick", "unsigned message"),
                                            ("shutdown", "unsigned message"),
                                            ("tick", "replayed message")])
    assert sorted(events["MG2"]) == sorted([("tick", "bad signature"),
                                            ("shutdown", "unsigned message")])
    assert events["MG3"] == [("shutdown", "unsigned message")]
    assert "claiming to be from 'proxy': unsigned" in procs["MG1"].stderr()
    assert "claiming to be from 'MG3': bad signature" in caplog.text
    assert host.run_secret not in caplog.text
    assert all(host.run_secret not in p.stderr() for p in procs.values())


def test_agents_get_url_and_secret_in_the_environment_not_argv(reference, redis_url,
                                                              namespace, tmp_path):
    password = urlsplit(redis_url).password
    assert password
    with deployment(reference, redis_url, namespace, tmp_path) as (host, procs):
        for p in procs.values():
            argv = Path(f"/proc/{p.popen.pid}/cmdline").read_bytes().decode()
            assert password not in argv and host.run_secret not in argv
            assert "--redis-url" not in argv
        assert host.run_episode(seed=SEED).rewards == reference.rewards


def test_agent_process_without_the_secret_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HERON_RUN_SECRET",)}
    proc = subprocess.run([sys.executable, "-m", "powergrid.distributed.agent_process",
                           "--agent", "MG1"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "HERON_RUN_SECRET is not set" in proc.stderr and "--no-auth" in proc.stderr
    with pytest.raises(ValueError, match="run_secret=host.run_secret"):
        launch_agents(["MG1"], "redis://127.0.0.1:1/0", log_dir=tmp_path)
