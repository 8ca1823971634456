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
from contextlib import ExitStack

from heron.scheduling import AgentTiming, EventDrivenEnv
from heron.testing.redis_server import private_redis
from powergrid.baselines import make_policies
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.metrics import day_cost, violation_rate
from powergrid.setups.loader import load_setup

TIMINGS = {  # delays in steps (hours); MG3's controller only acts every 2 hours
    "MG1": AgentTiming(obs_delay=1, action_delay=1),
    "MG2": AgentTiming(obs_delay=1, action_delay=0),
    "MG3": AgentTiming(tick_period=2, obs_delay=1, action_delay=1),
}


def run(env, policies, day: int, v_limits: dict) -> dict[str, float]:
    """One day; cost and violation rate as powergrid.metrics defines them."""
    obs, _ = env.reset(seed=0, options={"day": day})
    rows, step = [], 0
    while env.agents:
        obs, _, _, _, infos = env.step({a: policies[a](obs[a]) for a in env.agents})
        rows += [{"step": step, "agent": a, **i} for a, i in infos.items()]
        step += 1
    return {"cost": day_cost(rows), "violation_rate": violation_rate(rows, v_limits)}


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
    v_limits = {a: env.agent_dict[a].v_limits for a in env.possible_agents}
    results["synchronous"] = run(env, policies_for(env), args.day, v_limits)

    env = MultiAgentMicrogrids({**base, "centralized": False, "message_broker": "in_memory"})
    results["delayed, in memory"] = run(EventDrivenEnv(env, TIMINGS, seed=0),
                                        policies_for(env), args.day, v_limits)

    with ExitStack() as stack:  # a private redis-server unless --redis-url is given
        url = args.redis_url or stack.enter_context(private_redis()).url
        env = MultiAgentMicrogrids({**base, "centralized": False, "message_broker": "redis",
                                    "redis_url": url})
        results["Redis with delays"] = run(EventDrivenEnv(env, TIMINGS, seed=0),
                                           policies_for(env), args.day, v_limits)
        env.close()

    print(f"test day {args.day}, {'checkpoint' if args.checkpoint else 'rule-based'} policies")
    print(f"{'setting':<22} {'cost $':>10} {'violation rate':>15}")
    for name, r in results.items():
        print(f"{name:<22} {r['cost']:>10.2f} {r['violation_rate']:>15.1%}")
    return results


if __name__ == "__main__":
    main()
