"""Vectorized env throughput: VectorMultiAgentMicrogrids vs. the single env, same run.

Prints env steps/s (copies x steps per second) for N in {1, 16, 64, 256}, the single
``MultiAgentMicrogrids`` (its default ``sweep`` backend) and the pandapower path, their ratios, the
process's peak RSS and the per-phase split of a vector step (actions, power flow,
state sync, observations), on ``ieee34_ieee13`` and ``ieee123_5mg``. Targets on
``ieee34_ieee13`` (2 cores): >= 20,000 env steps/s at N = 256, >= 10x the single env,
peak RSS < 1 GB.

    python bench/bench_vector_env.py [--seconds 4] [--setups ieee34_ieee13 ieee123_5mg]
        [--sizes 1 16 64 256] [--serial]
"""

from __future__ import annotations

import argparse
import logging
import resource
import time

import numpy as np

from powergrid.envs.vector_env import VectorMultiAgentMicrogrids
from powergrid.powerflow.base import DEFAULT_BACKEND
from powergrid.rollout import measure_steps_per_s
from powergrid.setups.loader import load_setup


def vector_steps_per_s(config: dict, n: int, seconds: float, parallel: bool) -> dict:
    venv = VectorMultiAgentMicrogrids(config, n, parallel=parallel)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    batches = [{a: rng.uniform(-1, 1, (n, venv.single_action_space(a).shape[0]))
                for a in venv.possible_agents} for _ in range(16)]
    for k in range(5):  # warm-up (numba's compiled kernels load on the first calls)
        venv.step(batches[k])
    for key in venv.timings:
        venv.timings[key] = 0.0
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(batches[steps % len(batches)])
        steps += 1
    elapsed = time.perf_counter() - t0
    split = {k: v / steps * 1e3 for k, v in venv.timings.items()}
    venv.close()
    return {"steps_per_s": steps * n / elapsed, "step_ms": elapsed / steps * 1e3,
            "split_ms": split}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--setups", nargs="+", default=["ieee34_ieee13", "ieee123_5mg"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 16, 64, 256])
    parser.add_argument("--single-steps", type=int, default=1500)
    parser.add_argument("--ref-steps", type=int, default=40)
    parser.add_argument("--serial", action="store_true",
                        help="run the batched power flow on one thread")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # rare non-convergence warnings under random actions

    results: dict[str, dict] = {}
    for setup in args.setups:
        config = load_setup(setup)
        single = measure_steps_per_s({**config, "power_flow": {"backend": DEFAULT_BACKEND}},
                                     args.single_steps)["steps_per_s"]
        ref = measure_steps_per_s({**config, "power_flow": {"backend": "pandapower"}},
                                  args.ref_steps)["steps_per_s"]
        vec = {n: vector_steps_per_s(config, n, args.seconds, not args.serial)
               for n in args.sizes}
        results[setup] = {"single": single, "pandapower": ref, "vector": vec}
        print(f"\n{setup}: random actions, 1 process, "
              f"{'serial' if args.serial else 'parallel'} batched power flow")
        print(f"{'path':<28} {'env steps/s':>12} {'x single':>9} {'x pandapower':>13}")
        print(f"{'pandapower (pp.runpp)':<28} {ref:>12,.0f} {ref / single:>9.2f} {1.0:>13.1f}")
        print(f"{f'single env ({DEFAULT_BACKEND})':<28} {single:>12,.0f} {1.0:>9.2f} "
              f"{single / ref:>13.0f}")
        for n, r in vec.items():
            print(f"{f'vector N={n}':<28} {r['steps_per_s']:>12,.0f} "
                  f"{r['steps_per_s'] / single:>9.1f} {r['steps_per_s'] / ref:>13.0f}")
        print("per-phase split of one vector step (ms): "
              + "; ".join(f"N={n}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["split_ms"].items())
                          for n, r in vec.items()))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS (everything above, incl. N={max(args.sizes)}): {rss_mb:,.0f} MiB")

    main_setup = "ieee34_ieee13"
    if main_setup in results and 256 in results[main_setup]["vector"]:
        r = results[main_setup]
        v256 = r["vector"][256]["steps_per_s"]
        ratio = v256 / r["single"]
        print(f"TARGET >= 20,000 env steps/s at N=256 ({main_setup}): "
              f"{'MET' if v256 >= 20000 else 'NOT MET'} ({v256:,.0f})")
        print(f"TARGET >= 10x the single env at N=256 ({main_setup}): "
              f"{'MET' if ratio >= 10 else 'NOT MET'} ({ratio:.1f}x)")
    print(f"TARGET peak RSS < 1 GB: {'MET' if rss_mb < 1024 else 'NOT MET'} ({rss_mb:,.0f} MiB)")


if __name__ == "__main__":
    main()
