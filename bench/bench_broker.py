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
import time
from contextlib import ExitStack

import numpy as np

from heron.messaging import InMemoryBroker, Message, make_broker
from heron.testing.redis_server import private_redis
from powergrid.rollout import measure_steps_per_s
from powergrid.setups.loader import load_setup

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
    return measure_steps_per_s({**load_setup("ieee34_ieee13"), **extra}, steps)["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    with ExitStack() as stack:
        url = args.redis_url or stack.enter_context(private_redis()).url
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


if __name__ == "__main__":
    main()
