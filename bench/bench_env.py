"""Environment throughput: MultiAgentMicrogrids on ieee34_ieee13 with random actions.

Prints env steps/s of one single env with each power-flow backend, measured in the
same run: ``sweep`` (exact radial sweeps, Newton where meshed: the default and the
setups' configured backend), ``lightsim2grid`` (Newton) and ``pandapower`` (``pp.runpp`` every
solve, the reference), their ratios, reset time and peak memory. The machine's
load average is printed too: on shared cores every figure moves with it, so each
fast backend is measured ``--repeats`` times and the best run is reported.

Targets: >= 1,000 env steps/s with the configured backend; >= 3,000 env steps/s
for the single env on its fastest backend (``sweep``). The ratio to ``pandapower``
is the machine-independent figure: this VM's speed varies from day to day.

    python bench/bench_env.py [--steps 2000] [--repeats 3] [--ref-steps 60] [--setup ieee34_ieee13]
"""

from __future__ import annotations

import argparse
import os
import resource
import tracemalloc

from powergrid.powerflow.base import DEFAULT_BACKEND
from powergrid.rollout import measure_steps_per_s as measure
from powergrid.setups.loader import load_setup

TARGET_CONFIGURED = 1000.0
TARGET_SINGLE = 3000.0


def _best(config: dict, steps: int, repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` runs (other processes only ever slow a run down)."""
    runs = [measure(config, steps) for _ in range(max(1, repeats))]
    return max(runs, key=lambda r: r["steps_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", default="ieee34_ieee13")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ref-steps", type=int, default=60)
    args = parser.parse_args()

    config = load_setup(args.setup)
    configured = str((config.get("power_flow") or {}).get("backend", DEFAULT_BACKEND))
    load_before = os.getloadavg()[0]
    runs = {backend: _best({**config, "power_flow": {"backend": backend}}, args.steps,
                           args.repeats)
            for backend in ("sweep", "lightsim2grid")}
    # memory in a separate short run: tracemalloc slows Python down several-fold
    tracemalloc.start()
    measure({**config, "power_flow": {"backend": "sweep"}}, 200)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    runs["pandapower"] = measure({**config, "power_flow": {"backend": "pandapower"}},
                                 args.ref_steps)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_after = os.getloadavg()[0]

    fast, newton, ref = runs["sweep"], runs["lightsim2grid"], runs["pandapower"]
    print(f"MultiAgentMicrogrids on {args.setup}, random actions, 1 process, "
          f"{os.cpu_count()} cores, load average {load_before:.2f} -> {load_after:.2f}")
    print(f"{'backend':<14} {'steps/s':>9} {'ms/step':>9} {'reset ms':>9}")
    for name, r in runs.items():
        print(f"{name:<14} {r['steps_per_s']:>9.0f} {r['step_ms']:>9.3f} {r['reset_ms']:>9.1f}")
    print(f"speed-up sweep/pandapower: {fast['steps_per_s'] / ref['steps_per_s']:.0f}x, "
          f"lightsim2grid/pandapower: {newton['steps_per_s'] / ref['steps_per_s']:.0f}x, "
          f"sweep/lightsim2grid: {fast['steps_per_s'] / newton['steps_per_s']:.2f}x")
    print(f"peak Python heap (build + 200 steps): {peak / 2**20:.1f} MiB; "
          f"process max RSS {rss_mb:.0f} MiB")
    configured_sps = runs.get(configured, newton)["steps_per_s"]
    for label, value, target in (
            (f"configured backend ({configured}) >= {TARGET_CONFIGURED:,.0f} steps/s",
             configured_sps, TARGET_CONFIGURED),
            (f"single env (sweep) >= {TARGET_SINGLE:,.0f} steps/s", fast["steps_per_s"],
             TARGET_SINGLE)):
        print(f"target {label}: {'MET' if value >= target else 'NOT MET'} ({value:,.0f})")


if __name__ == "__main__":
    main()
