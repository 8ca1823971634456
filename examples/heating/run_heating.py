"""Run one day of the heating demo and print what each house pays and how warm it is.

    python examples/heating/run_heating.py --policy thermostat --seed 0
    python examples/heating/run_heating.py --policy random --obs-delay 2
    python examples/heating/run_heating.py --policy thermostat --distributed

``--obs-delay`` runs the same policy on stale measurements through
``heron.scheduling.EventDrivenEnv``; ``--distributed`` runs each house controller in
its own agent loop (a thread here, on an in-memory broker) against
``heron.distributed.DistributedHost``, which steps the env once every controller has
answered, exactly as agent processes over Redis would. In both cases the env and
policy code do not change, and with ``--distributed`` the day is the same as without.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from heating.agents import ThermostatPolicy
from heating.env import HeatingEnv

from heron.core.policies import RandomPolicy
from heron.distributed import DistributedHost
from heron.messaging import InMemoryBroker
from heron.scheduling import AgentTiming, EventDrivenEnv


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description="HERON heating demo")
    parser.add_argument("--policy", choices=["thermostat", "random"], default="thermostat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=24, help="hours to simulate")
    parser.add_argument("--obs-delay", type=int, default=0, help="steps of measurement lag")
    parser.add_argument("--distributed", action="store_true",
                        help="each house controller in its own agent loop, over messages")
    args = parser.parse_args(argv)
    if args.distributed and args.obs_delay:
        parser.error("--distributed runs controllers in lock step on the newest state; "
                     "drop --obs-delay (or run without --distributed to study delays)")

    config = {"max_episode_steps": args.steps}
    with ExitStack() as stack:
        host = None
        if args.distributed:
            host = stack.enter_context(DistributedHost(
                lambda mode: HeatingEnv(config, execution=mode), broker=InMemoryBroker()))
            base = host.env
        else:
            base = HeatingEnv(config)
        env = base
        if args.obs_delay:
            env = EventDrivenEnv(base, {a: AgentTiming(obs_delay=args.obs_delay)
                                        for a in base.possible_agents}, seed=args.seed)
        if args.policy == "thermostat":
            policies = {a: ThermostatPolicy(len(base.agent_dict[a].radiators))
                        for a in base.possible_agents}
        else:
            policies = {a: RandomPolicy(env.action_space(a), seed=args.seed + i)
                        for i, a in enumerate(base.possible_agents)}

        if host is not None:
            threads = host.launch_agent_threads(policies)
            stack.callback(lambda: [t.stop() for t in threads])
            stack.callback(host.shutdown_agents)
            host.wait_for_agents(timeout_s=30.0)
            obs, _ = host.reset(seed=args.seed)
        else:
            obs, _ = env.reset(seed=args.seed)
        returns = dict.fromkeys(base.possible_agents, 0.0)
        print(f"{'hour':>4} {'price':>5} "
              + " ".join(f"{a + ' °C':>22} {'€':>5}" for a in returns))
        while env.agents:
            if host is not None:  # the controllers act in their own loops
                obs, rewards, _, _, infos = host.step()
            else:
                obs, rewards, _, _, infos = env.step({a: policies[a](obs[a])
                                                      for a in env.agents})
            for a in rewards:
                returns[a] += rewards[a]
            temps = {a: " ".join(f"{r.state.room.temp_c:5.1f}"
                                 for r in base.agent_dict[a].radiators) for a in returns}
            price = base.agent_dict[base.possible_agents[0]].state.signals.price
            print(f"{base.hour:4.0f} {price:5.2f} "
                  + " ".join(f"{temps[a]:>22} {infos[a]['cost']:5.2f}" for a in returns))
    print("return: " + ", ".join(f"{a}={v:+.2f}" for a, v in returns.items()))
    return returns


if __name__ == "__main__":
    main()
