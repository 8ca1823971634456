"""Fuzz campaign: >= 100,000 env steps of valid and garbage actions over the shipped setups.

Every input comes from :func:`heron.testing.action_fuzz.make_step_input` (half valid:
padded, native, lists, ``(1, n)``, per-device dicts, finite values far out of range;
half garbage: not a dict, missing/extra agents, wrong lengths, NaN/inf, None,
strings, ragged/nested lists, complex, huge ints, empty/partial dicts ...) and is
judged by :func:`~heron.testing.action_fuzz.judge`:

* clear error: ActionError/KeyError/ValueError whose message names the agent, with
  the env's state, observations, time index, RNG, timers and network vectors unchanged;
* bare error: any other exception, or a message that does not name the agent, or a
  valid action rejected;
* silent acceptance: garbage that stepped; non-finite output: NaN/inf in a
  valid step's observations or rewards.

The reference figure, measured in the same run: steps/s of valid-only stepping
(the same envs, no judging) next to the campaign's tries/s.

    python bench/bench_fuzz_campaign.py [--steps 100000] [--seed 0] [--ref-steps 2000]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections import Counter
from typing import Any

import numpy as np

from heron.agents.proxy_agent import ProxyAgent
from heron.envs.execution import RemoteExecution
from heron.messaging import InMemoryBroker
from heron.testing.action_fuzz import Counts, judge, make_step_input, snapshot
from powergrid.envs.multi_agent_microgrids import MultiAgentMicrogrids
from powergrid.setups.loader import load_setup

FAST = {"power_flow": {"backend": "lightsim2grid"}}
#: the env side of the Redis deployment (agent processes send, the host steps), fuzzed on
#: heron's RemoteExecution with an in-memory proxy: the campaign plays the host
REMOTE = "ieee34_ieee13 remote execution (env)"


def _commitment(cfg: dict[str, Any]) -> dict[str, Any]:
    """ieee34_ieee13 with MG1's generator under unit commitment (a start-up timer)."""
    cfg = copy.deepcopy(cfg)
    gen = cfg["microgrid_configs"][0]["devices"][0]["device_state_config"]
    gen.update(allow_commitment=True, startup_time_hr=2.0, init_on=False)
    return cfg


def setups() -> dict[str, dict[str, Any]]:
    """The shipped setups, in every execution mode that steps in this process and every
    protocol (:data:`REMOTE`: the env as the distributed host steps it, in-memory
    broker; the agent processes themselves are not fuzzed here)."""
    ieee34 = load_setup("ieee34_ieee13")
    return {
        "ieee34_ieee13": {**ieee34, **FAST},
        "ieee34_ieee13 centralized=false": {**ieee34, **FAST, "centralized": False},
        REMOTE: {**ieee34, **FAST},
        "ieee34_ieee13 protocol=p2p": {**ieee34, **FAST, "protocol": "p2p"},
        "ieee34_ieee13 protocol=price_signal": {**ieee34, **FAST, "protocol": "price_signal"},
        "ieee34_ieee13 commitment": {**_commitment(ieee34), **FAST},
        "ieee123_5mg": {**load_setup("ieee123_5mg"), **FAST},
        "single_microgrid": {**load_setup("single_microgrid"), **FAST},
        "single_microgrid centralized=false": {**load_setup("single_microgrid"), **FAST,
                                               "centralized": False},
    }


def grid_arrays(env: MultiAgentMicrogrids) -> list[np.ndarray]:
    """The network vectors devices write into: a rejected step must not touch them."""
    gm = env.grid_model
    return [gm.sgen_p, gm.sgen_q, gm.storage_p, gm.storage_q, gm.load_p, gm.load_q,
            gm.tap_pos]


def make_env(name: str, config: dict[str, Any]) -> MultiAgentMicrogrids:
    """The setup ``name``'s env; :data:`REMOTE` on heron's remote execution mode."""
    execution = RemoteExecution(ProxyAgent(InMemoryBroker())) if name == REMOTE else None
    return MultiAgentMicrogrids(config, execution=execution)


def fuzz(name: str, config: dict[str, Any], steps: int, seed: int
         ) -> tuple[Counts, Counter, float]:
    """``steps`` fuzzed ``step()`` calls on one env; returns counts, kinds tried, seconds."""
    env = make_env(name, config)
    env.reset(seed=seed)
    rng, counts, kinds = np.random.default_rng(seed), Counts(), Counter()
    before = None  # snapshot of the env as it is now; None after a step changed it
    start = time.perf_counter()
    for _ in range(steps):
        if not env.agents:
            env.reset()
            before = None
        actions, kind, culprit = make_step_input(env, rng)
        kinds[kind] += 1
        if culprit is not None and before is None:
            before = snapshot(env, grid_arrays)
        stepped, after = judge(env, actions, culprit, counts, kind, before, grid_arrays)
        before = None if stepped else (after if after is not None else before)
    seconds = time.perf_counter() - start
    env.close()
    return counts, kinds, seconds


def valid_only_rate(config: dict[str, Any], steps: int, seed: int) -> float:
    """Reference: steps/s of plain valid stepping (padded uniform actions), no judging."""
    env = MultiAgentMicrogrids(config)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(steps):
        if not env.agents:
            env.reset()
        env.step({a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents})
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def run(total_steps: int, seed: int = 0, ref_steps: int = 2000, quiet: bool = False
        ) -> dict[str, Any]:
    """The whole campaign; returns totals (the slow test calls this with fewer steps)."""
    configs = setups()
    per = -(-total_steps // len(configs))
    total, kinds, rows = Counts(), Counter(), []
    t0 = time.perf_counter()
    for i, (name, cfg) in enumerate(configs.items()):
        counts, k, seconds = fuzz(name, cfg, per, seed + i)
        total.add(counts)
        kinds.update(k)
        rows.append((name, counts, seconds))
        if not quiet:
            print(f"{name:<36} {counts.tried:>7} {counts.valid_steps:>7} "
                  f"{counts.clear_errors:>7} {counts.bare_errors:>5} "
                  f"{counts.silent_acceptances:>6} {counts.non_finite_outputs:>6} "
                  f"{counts.state_changed_on_error:>6} {counts.tried / seconds:>8.0f}",
                  flush=True)
    elapsed = time.perf_counter() - t0
    ref = valid_only_rate(configs["ieee34_ieee13"], ref_steps, seed) if ref_steps else None
    fuzz34 = next(c.tried / s for n, c, s in rows if n == "ieee34_ieee13")
    return {"total": total, "kinds": kinds, "rows": rows, "elapsed": elapsed,
            "ref_steps_per_s": ref, "fuzz_ieee34_tries_per_s": fuzz34}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ref-steps", type=int, default=2000)
    args = parser.parse_args()

    print(f"Fuzz campaign: {args.steps} step() calls over {len(setups())} setups/modes, "
          f"seed {args.seed}, backend lightsim2grid")
    print(f"{'setup':<36} {'tried':>7} {'valid':>7} {'clear':>7} {'bare':>5} {'silent':>6} "
          f"{'nonfin':>6} {'state':>6} {'tries/s':>8}")
    out = run(args.steps, args.seed, args.ref_steps)
    t: Counts = out["total"]
    print(f"{'TOTAL':<36} {t.tried:>7} {t.valid_steps:>7} {t.clear_errors:>7} "
          f"{t.bare_errors:>5} {t.silent_acceptances:>6} {t.non_finite_outputs:>6} "
          f"{t.state_changed_on_error:>6} {t.tried / out['elapsed']:>8.0f}")
    print("inputs by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(out["kinds"].items())))
    print(f"campaign wall time {out['elapsed']:.0f} s")
    print(f"reference (same run, ieee34_ieee13): valid-only stepping "
          f"{out['ref_steps_per_s']:.0f} steps/s; fuzzed (valid + garbage, judged) "
          f"{out['fuzz_ieee34_tries_per_s']:.0f} tries/s")
    print(f"counts: tried {t.tried}, clear errors {t.clear_errors}, bare errors "
          f"{t.bare_errors}, silent acceptances of garbage {t.silent_acceptances}, "
          f"non-finite outputs {t.non_finite_outputs}, state changed by a rejected step "
          f"{t.state_changed_on_error}, valid steps {t.valid_steps}")
    for example in t.examples:
        print(f"  example: {example[:300]}")
    targets = [("0 bare errors", t.bare_errors == 0, t.bare_errors),
               ("0 silent acceptances", t.silent_acceptances == 0, t.silent_acceptances),
               ("0 non-finite outputs", t.non_finite_outputs == 0, t.non_finite_outputs),
               ("0 state changes on rejected steps", t.state_changed_on_error == 0,
                t.state_changed_on_error),
               (">= 100000 fuzzed steps", t.tried >= 100_000, t.tried)]
    for label, met, value in targets:
        print(f"TARGET {label}: {'MET' if met else 'NOT MET'} ({value})")
    return 0 if all(met for _, met, _ in targets[:4]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
