"""Message brokers and distributed mode: latency, throughput, env steps/s.

In one run: publish->consume->ack round-trip latency (median, p99) and one-way
throughput for the in-memory broker and a real redis-server, then env steps/s of
MultiAgentMicrogrids (ieee34_ieee13) centralized vs distributed over each broker,
with the ratio to centralized.

    python bench/bench_broker.py [--redis-url URL] [--messages 2000] [--steps 200]

Without --redis-url a private redis-server is installed if needed and started.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from heron.messaging import InMemoryBroker, Message, make_broker
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "redis_service.sh"
PAYLOAD = {"action": [0.1] * 8}


def round_trip(broker, n: int) -> dict[str, float]:
    topic = f"bench.rt.{time.time_ns()}"
    broker.subscribe(topic, "c")
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        broker.publish(Message(sender="s", topic=topic, type="x", payload=PAYLOAD))
        msgs = broker.consume(topic, "c", max_messages=1, timeout_s=1.0)
        broker.ack(topic, "c", [m.seq for m in msgs])
        lat.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n):
        broker.publish(Message(sender="s", topic=topic, type="x", payload=PAYLOAD))
    got = 0
    while got < n:
        msgs = broker.consume(topic, "c", max_messages=500, timeout_s=1.0)
        broker.ack(topic, "c", [m.seq for m in msgs])
        got += len(msgs)
    tput = n / (time.perf_counter() - t0)
    lat_us = np.asarray(lat) * 1e6
    return {"median_us": float(np.median(lat_us)), "p99_us": float(np.percentile(lat_us, 99)),
            "msgs_per_s": tput}


def env_speed(extra: dict, steps: int) -> float:
    cfg = load_setup("ieee34_ieee13")
    cfg.update({"max_episode_steps": 96, **extra})
    env = MultiAgentMicrogrids(cfg)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        if not env.agents:
            env.reset()
        env.step({a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents})
    rate = steps / (time.perf_counter() - t0)
    env.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    tmp = None
    url = args.redis_url
    if url is None:
        tmp = tempfile.mkdtemp(prefix="heron-bench-redis-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        subprocess.run(["bash", str(SCRIPT), "install"], check=True, capture_output=True)
        subprocess.run(["bash", str(SCRIPT), "start", str(port), tmp], check=True,
                       capture_output=True)
        url = f"redis://127.0.0.1:{port}/0"
    try:
        mem = round_trip(InMemoryBroker(), args.messages)
        redis_broker = make_broker("redis", redis_url=url)
        red = round_trip(redis_broker, args.messages)
        redis_broker.close()
        print(f"broker round trip (publish+consume+ack, {args.messages} msgs):")
        print(f"{'broker':<10} {'median us':>10} {'p99 us':>10} {'msgs/s':>10}")
        for name, r in (("in-memory", mem), ("redis", red)):
            print(f"{name:<10} {r['median_us']:>10.1f} {r['p99_us']:>10.1f} {r['msgs_per_s']:>10.0f}")
        print(f"redis/in-memory latency ratio: {red['median_us'] / mem['median_us']:.0f}x")

        cen = env_speed({}, args.steps)
        dmem = env_speed({"centralized": False, "message_broker": "in_memory"}, args.steps)
        dred = env_speed({"centralized": False, "message_broker": "redis", "redis_url": url},
                         max(20, args.steps // 4))
        print("\nenv steps/s, ieee34_ieee13, random actions:")
        print(f"{'mode':<24} {'steps/s':>9} {'vs centralized':>15}")
        for name, r in (("centralized", cen), ("distributed, in-memory", dmem),
                        ("distributed, redis", dred)):
            print(f"{name:<24} {r:>9.0f} {r / cen:>14.2f}x")
    finally:
        if tmp:
            subprocess.run(["bash", str(SCRIPT), "stop", tmp], capture_output=True)


if __name__ == "__main__":
    main()
