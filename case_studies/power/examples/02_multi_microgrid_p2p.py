"""Example 02: three microgrids trade energy peer-to-peer, one day, with and without P2P.

Each microgrid runs the same rule-based dispatch in both runs, so the physical power
flows are identical; P2P trading only changes who pays whom. Microgrids sell surplus
to neighbours at a price between the DSO's feed-in price (here half the retail price)
and its retail price, instead of exporting it cheaply and importing dearly.

Run from case_studies/power:  python examples/02_multi_microgrid_p2p.py
"""

from __future__ import annotations

import argparse

import numpy as np

from powergrid.baselines import make_policies
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

FEED_IN_RATIO = 0.5  # the DSO pays half its retail price for exported energy


def run_day(p2p: bool, day: int) -> tuple[dict[str, float], float]:
    cfg = load_setup("ieee34_ieee13")
    cfg.update({"train": False, "max_episode_steps": 24})
    for mg in cfg["microgrid_configs"]:
        mg["sell_price_ratio"] = FEED_IN_RATIO
    if p2p:
        cfg["protocol"] = "p2p"
    env = MultiAgentMicrogrids(cfg)
    policies = make_policies(env, "rule")
    obs, _ = env.reset(seed=0, options={"day": day})
    costs = {a: 0.0 for a in env.possible_agents}
    traded = 0.0
    while env.agents:
        actions = {}
        for a in env.agents:
            act = policies[a](obs[a])
            if p2p:  # ask/bid at the middle of [feed-in, retail]
                act = np.append(act, 0.0)
            actions[a] = act
        obs, _, _, _, infos = env.step(actions)
        for a, info in infos.items():
            costs[a] += info["cost"]
            traded += max(0.0, info.get("p2p_traded_MW", 0.0))
    return costs, traded


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description="P2P trading vs. none, one day")
    parser.add_argument("--day", type=int, default=0)
    args = parser.parse_args(argv)
    without, _ = run_day(False, args.day)
    with_p2p, traded = run_day(True, args.day)
    print(f"test day {args.day}, rule-based dispatch, feed-in price = {FEED_IN_RATIO:.0%} of retail")
    print(f"{'microgrid':<10} {'cost without P2P $':>19} {'cost with P2P $':>16} {'saving $':>9}")
    for a in without:
        print(f"{a:<10} {without[a]:>19.2f} {with_p2p[a]:>16.2f} {without[a] - with_p2p[a]:>9.2f}")
    tw, tp = sum(without.values()), sum(with_p2p.values())
    print(f"{'total':<10} {tw:>19.2f} {tp:>16.2f} {tw - tp:>9.2f}")
    print(f"energy traded peer-to-peer: {traded:.2f} MWh")
    assert tp <= tw + 1e-6, "P2P trading must never raise the total cost"
    return {"without": without, "with": with_p2p}


if __name__ == "__main__":
    main()
