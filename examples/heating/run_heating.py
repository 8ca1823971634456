"""Run one day of the heating demo and print what each house pays and how warm it is.

    python examples/heating/run_heating.py --policy thermostat --seed 0
    python examples/heating/run_heating.py --policy random --obs-delay 2

``--obs-delay`` runs the same policy on stale measurements through
``heron.scheduling.EventDrivenEnv``: the env and policy code do not change.
"""

from __future__ import annotations

import argparse

from heating.agents import ThermostatPolicy
from heating.env import HeatingEnv

from heron.core.policies import RandomPolicy
from heron.scheduling import AgentTiming, EventDrivenEnv


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description="HERON heating demo")
    parser.add_argument("--policy", choices=["thermostat", "random"], default="thermostat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=24, help="hours to simulate")
    parser.add_argument("--obs-delay", type=int, default=0, help="steps of measurement lag")
    args = parser.parse_args(argv)

    base = HeatingEnv({"max_episode_steps": args.steps})
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

    obs, _ = env.reset(seed=args.seed)
    returns = dict.fromkeys(base.possible_agents, 0.0)
    print(f"{'hour':>4} {'price':>5} " + " ".join(f"{a + ' °C':>22} {'€':>5}" for a in returns))
    while env.agents:
        obs, rewards, _, _, infos = env.step({a: policies[a](obs[a]) for a in env.agents})
        for a in rewards:
            returns[a] += rewards[a]
        temps = {a: " ".join(f"{r.state.room.temp_c:5.1f}" for r in base.agent_dict[a].radiators)
                 for a in returns}
        price = base.agent_dict[base.possible_agents[0]].state.signals.price
        print(f"{base.hour:4.0f} {price:5.2f} "
              + " ".join(f"{temps[a]:>22} {infos[a]['cost']:5.2f}" for a in returns))
    print("return: " + ", ".join(f"{a}={v:+.2f}" for a, v in returns.items()))
    return returns


if __name__ == "__main__":
    main()
