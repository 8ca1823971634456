"""Example 01: one IEEE 13-bus microgrid, one day, a rule-based controller.

Prints a step table and saves a plot (voltage envelope, dispatch, SOC).
Run from case_studies/power:  python examples/01_single_microgrid_basic.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from powergrid.baselines import make_policies
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.plotting import plot_episode
from powergrid.rollout import run_episode
from powergrid.setups.loader import load_setup


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Single microgrid, one day.")
    parser.add_argument("--policy", choices=["rule", "random", "zero"], default="rule")
    parser.add_argument("--day", type=int, default=0, help="test day index")
    parser.add_argument("--out", default="runs/example01", help="folder for the plot")
    args = parser.parse_args(argv)

    env = MultiAgentMicrogrids(load_setup("single_microgrid"))
    agent = env.agent_dict["MG1"]
    print(f"Microgrid MG1: {len(agent.bus_names())} buses, devices {list(agent.devices)}")
    print(f"observation dim {env.observation_space('MG1').shape[0]}, "
          f"action dim {env.action_space('MG1').shape[0]}, power flow: {env.backend}")
    rec = run_episode(env, make_policies(env, args.policy), seed=0, options={"day": args.day})

    print(f"\n{'h':>3} {'price':>6} {'load':>6} {'gen1':>6} {'ess1':>6} {'soc':>5} {'pv1':>6} "
          f"{'import':>7} {'v_min':>6} {'v_max':>6} {'cost':>8}")
    for r in rec.rows:
        print(f"{r['hour']:>3} {r['price']:>6.1f} {r['total_load_MW']:>6.3f} "
              f"{r['gen1.p_MW']:>6.3f} {r['ess1.p_MW']:>6.3f} {r['ess1.soc']:>5.2f} "
              f"{r['pv1.p_MW']:>6.3f} {r['grid_import_MW']:>7.3f} {r['v_min']:>6.3f} "
              f"{r['v_max']:>6.3f} {r['cost']:>8.2f}")
    s = rec.summary()
    print(f"\ntotal cost {s['total_cost']:.2f} $, violation rate {s['violation_rate']:.0%}, "
          f"power flow converged {s['convergence_rate']:.0%}, {s['steps_per_s']:.0f} steps/s")
    png = plot_episode(rec, Path(args.out) / "episode.png", title=f"MG1, {args.policy} policy")
    print(f"plot saved to {png}")
    return s


if __name__ == "__main__":
    main()
