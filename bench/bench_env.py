"""Environment throughput: MultiAgentMicrogrids on ieee34_ieee13 with random actions.

Prints env steps/s with the fast backend and with ``backend: pandapower`` measured
in the same run, their ratio, reset time and peak memory. Target: >= 1,000 env
steps/s on one core with the fast backend.

    python bench/bench_env.py [--steps 2000] [--ref-steps 60] [--setup ieee34_ieee13]
"""

from __future__ import annotations

import argparse
import resource
import tracemalloc

from powergrid.rollout import measure_steps_per_s as measure
from powergrid.setups.loader import load_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", default="ieee34_ieee13")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--ref-steps", type=int, default=60)
    args = parser.parse_args()

    config = load_setup(args.setup)
    fast = measure({**config, "power_flow": {"backend": "lightsim2grid"}}, args.steps)
    # memory in a separate short run: tracemalloc slows Python down several-fold
    tracemalloc.start()
    measure({**config, "power_flow": {"backend": "lightsim2grid"}}, 200)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ref = measure({**config, "power_flow": {"backend": "pandapower"}}, args.ref_steps)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"MultiAgentMicrogrids on {args.setup}, random actions, 1 process")
    print(f"{'backend':<14} {'steps/s':>9} {'ms/step':>9} {'reset ms':>9}")
    for name, r in (("lightsim2grid", fast), ("pandapower", ref)):
        print(f"{name:<14} {r['steps_per_s']:>9.0f} {r['step_ms']:>9.3f} {r['reset_ms']:>9.1f}")
    print(f"speed-up fast/pandapower: {fast['steps_per_s'] / ref['steps_per_s']:.0f}x")
    print(f"peak Python heap (build + 200 steps): {peak / 2**20:.1f} MiB; process max RSS {rss_mb:.0f} MiB")
    print(f"target >= 1000 steps/s: {'MET' if fast['steps_per_s'] >= 1000 else 'NOT MET'}")


if __name__ == "__main__":
    main()
