"""Example 06: the same controllers under three execution settings, side by side.

1. synchronous:          centralized env, every agent observes the present and acts at once;
2. delayed, in memory:   distributed mode (state and actions travel as messages through the
                         in-memory broker) with observation/action delays and a slower MG3;
3. Redis with delays:    the same, with messages going through a real redis-server.

Policies are rule-based controllers acting on their *observation* (so stale observations
really make them act on stale information), or an RLlib checkpoint (--checkpoint).
For agents in separate processes see docs/distributed.md (powergrid.distributed).

Run from case_studies/power:  python examples/06_distributed_mode.py [--redis-url URL]
Without --redis-url a private redis-server is installed if needed and started on a free port.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
from pathlib import Path

from heron.scheduling import AgentTiming, EventDrivenEnv
from powergrid.baselines import make_policies
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

REDIS_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "redis_service.sh"
TIMINGS = {  # delays in steps (hours); MG3's controller only acts every 2 hours
    "MG1": AgentTiming(obs_delay=1, action_delay=1),
    "MG2": AgentTiming(obs_delay=1, action_delay=0),
    "MG3": AgentTiming(tick_period=2, obs_delay=1, action_delay=1),
}


def run(env, policies, day: int) -> dict[str, float]:
    obs, _ = env.reset(seed=0, options={"day": day})
    cost = violations = steps = 0.0
    while env.agents:
        obs, _, _, _, infos = env.step({a: policies[a](obs[a]) for a in env.agents})
        cost += sum(i["cost"] for i in infos.values())
        violations += sum(i["safety"] > 1e-9 for i in infos.values())
        steps += len(infos)
    return {"cost": cost, "violation_rate": violations / max(steps, 1)}


def start_redis(tmp: str) -> tuple[str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(["bash", str(REDIS_SCRIPT), "install"], check=True, capture_output=True)
    subprocess.run(["bash", str(REDIS_SCRIPT), "start", str(port), tmp], check=True,
                   capture_output=True)
    return f"redis://127.0.0.1:{port}/0", tmp


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description="Synchronous vs delayed vs Redis")
    parser.add_argument("--day", type=int, default=0)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--checkpoint", default=None, help="RLlib checkpoint instead of rules")
    args = parser.parse_args(argv)

    base = load_setup("ieee34_ieee13")
    base.update({"train": False, "max_episode_steps": 24})

    def policies_for(env):
        if args.checkpoint:
            from heron.training.evaluate import load_policies

            return load_policies(args.checkpoint)
        return make_policies(env, "rule")

    results = {}
    env = MultiAgentMicrogrids(base)
    results["synchronous"] = run(env, policies_for(env), args.day)

    env = MultiAgentMicrogrids({**base, "centralized": False, "message_broker": "in_memory"})
    results["delayed, in memory"] = run(EventDrivenEnv(env, TIMINGS, seed=0),
                                        policies_for(env), args.day)

    tmp = tempfile.mkdtemp(prefix="heron-redis-")
    url, started = (args.redis_url, None) if args.redis_url else start_redis(tmp)
    try:
        env = MultiAgentMicrogrids({**base, "centralized": False, "message_broker": "redis",
                                    "redis_url": url})
        results["Redis with delays"] = run(EventDrivenEnv(env, TIMINGS, seed=0),
                                           policies_for(env), args.day)
        env.close()
    finally:
        if started:
            subprocess.run(["bash", str(REDIS_SCRIPT), "stop", started], capture_output=True)

    print(f"test day {args.day}, {'checkpoint' if args.checkpoint else 'rule-based'} policies")
    print(f"{'setting':<22} {'cost $':>10} {'violation rate':>15}")
    for name, r in results.items():
        print(f"{name:<22} {r['cost']:>10.2f} {r['violation_rate']:>15.1%}")
    return results


if __name__ == "__main__":
    main()
