"""Example 03: price-based coordination. Each microgrid broadcasts a price; devices respond.

With ``protocol: price_signal`` a microgrid's action is one number: a price signal
(normalised to [-1, 1] -> [0, 100] $/MWh). Each device answers with its own
price-response rule (``respond_to_price``):

* generators produce where their marginal cost 2aP + b equals the price;
* batteries charge below 38 $/MWh and discharge above 50 $/MWh;
* renewables deliver everything unless the price is negative.

Here the coordinator simply passes on the DSO's hourly price, so dispatch follows the
day's price profile. The plot shows price and dispatch side by side.

Run from case_studies/power:  python examples/03_price_coordination.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description="Price-signal coordination over one day")
    parser.add_argument("--day", type=int, default=0)
    parser.add_argument("--out", default="runs/example03")
    args = parser.parse_args(argv)

    cfg = load_setup("ieee34_ieee13")
    cfg.update({"train": False, "max_episode_steps": 24, "protocol": "price_signal"})
    # steeper cost curves than the default setup's (whose units are cheaper than any grid
    # price and so always run flat out) make the price response visible
    mgs = {m["name"]: m for m in cfg["microgrid_configs"]}
    mgs["MG1"]["devices"][0]["device_state_config"]["cost_curve_coefs"] = [10.0, 30.0, 0.0]
    mgs["MG2"]["devices"][0]["device_state_config"]["cost_curve_coefs"] = [8.0, 35.0, 0.0]
    env = MultiAgentMicrogrids(cfg)
    env.reset(seed=0, options={"day": args.day})
    proto = env.agent_dict["MG1"].protocol
    log: dict[str, list[float]] = {"price": [], "gen1": [], "ess1": [], "gen2": [], "ess3": []}
    print(f"{'h':>3} {'price $/MWh':>12} {'gen1 MW':>8} {'ess1 MW':>8} {'gen2 MW':>8} {'ess3 MW':>8}")
    while env.agents:
        price = env.agent_dict["MG1"].state.exchange.price
        signal = 2 * (price - proto.price_min) / (proto.price_max - proto.price_min) - 1
        env.step({a: np.array([signal], dtype=np.float32) for a in env.agents})
        row = {
            "price": price,
            "gen1": env.agent_dict["MG1"].devices["gen1"].state.electrical.p_MW,
            "ess1": env.agent_dict["MG1"].devices["ess1"].state.electrical.p_MW,
            "gen2": env.agent_dict["MG2"].devices["gen2"].state.electrical.p_MW,
            "ess3": env.agent_dict["MG3"].devices["ess3"].state.electrical.p_MW,
        }
        for k, v in row.items():
            log[k].append(float(v))
        print(f"{len(log['price']) - 1:>3} {price:>12.1f} {row['gen1']:>8.3f} {row['ess1']:>8.3f} "
              f"{row['gen2']:>8.3f} {row['ess3']:>8.3f}")
    corr = np.corrcoef(log["price"], log["gen1"])[0, 1]
    print(f"correlation of gen1 output with price: {corr:.2f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    hours = np.arange(len(log["price"]))
    for k in ("gen1", "ess1", "gen2", "ess3"):
        ax.step(hours, log[k], where="post", label=k)
    ax.set(xlabel="hour", ylabel="MW (+ = into grid)", title="Dispatch following the price")
    ax2 = ax.twinx()
    ax2.plot(hours, log["price"], "k--", label="price")
    ax2.set_ylabel("$/MWh")
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / "price_dispatch.png", dpi=110)
    print(f"plot saved to {out / 'price_dispatch.png'}")
    return log


if __name__ == "__main__":
    main()
