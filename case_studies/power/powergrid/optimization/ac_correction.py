"""AC-feasibility correction: re-plan the hours in which the environment's regulators do
not do what the model assumed.

The model treats each automatic regulator as an ideal continuous one that holds its
bus at ``v_set`` in every hour. The model is exact (the cone is tight), so the
environment's power flow reproduces the planned voltages wherever the regulators
reach the planned ratio. The environment's regulators are discrete, though, and
they run a bounded control loop: at most ``max_iter`` rounds a step, each moving at
most ``max_steps_per_move`` taps, and regulators in series share corrections. After
a large swing between two hours some of them end the step short of the planned
tap, with their bus outside the band. Without a correction that happens on 2 of
the 6,048 agent-steps of ``ieee34_ieee13``'s 84 test days: day 22 hour 16 (MG1)
and day 23 hour 1 (MG3).

The correction does the following. It replays the plan through the environment.
In every hour where an agent-step violates its band
(:meth:`~.replay.ReplayResult.voltage_violations`, the metrics' one definition), it
fixes every tap at the position the environment's regulators really reached, and
requires only that each regulated bus stay inside ``v_set ± bandwidth/2``. The
environment's regulators do not move inside that band, so they stay put. It then
re-solves and replays again, up to :data:`AC_ROUNDS` times. The plan returned is
the one whose replay has the fewest violating agent-steps, the earliest on ties.

Fixing taps restricts the model, so the corrected plan can cost more than the
uncorrected one. ``OracleResult.uncorrected_objective`` keeps the uncorrected
cost. ``relaxed_objective`` stays the unrestricted model's plain relaxation, a
lower bound for both plans.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from powergrid.optimization.replay import replay
from powergrid.optimization.result import OracleResult
from powergrid.optimization.scenario import DayScenario

#: re-solves at most; each fixes the taps of the hours whose replay still violates
AC_ROUNDS = 3


def violating_hours(env: Any, rep: Any) -> tuple[np.ndarray, int]:
    """(T,) bool hours with a voltage-violating agent-step in ``rep``, and their count."""
    limits = {a: tuple(env.agent_dict[a].v_limits) for a in env.possible_agents}
    bad = rep.voltage_violations(limits)
    return bad.any(axis=1), int(bad.sum())


def correct_by_replay(env: Any, sc: DayScenario, res: OracleResult, *,
                      rounds: int = AC_ROUNDS, **solve_kwargs: Any) -> OracleResult:
    """``res`` corrected as the module docstring says.

    ``env`` must be on ``sc``'s split and horizon (as :func:`.oracle.solve_day` builds
    it). ``solve_kwargs`` are :func:`.oracle.solve_scenario`'s options of ``res``.
    """
    from powergrid.optimization.oracle import solve_scenario

    res.uncorrected_objective = res.objective
    if not res.feasible:
        return res
    rep = replay(env, res)
    bad, count = violating_hours(env, rep)
    res.replay_violations, res.replay_cost = count, rep.total_cost
    best, best_count = res, count
    T = sc.horizon
    solve_s, build_s = res.solve_time_s, res.build_time_s  # every round counts
    fixed = np.zeros(T, dtype=bool)
    taps = np.tile(sc.initial_taps.astype(float), (T, 1))
    for k in range(rounds):
        if not bad.any():
            break
        fixed |= bad
        taps[bad] = rep.taps[bad]  # where the environment's regulators really were
        new = solve_scenario(sc, taps=taps, fixed_tap_hours=fixed.copy(), **solve_kwargs)
        new.ac_rounds = k + 1
        new.fixed_tap_hours = np.flatnonzero(fixed).tolist()
        new.uncorrected_objective = res.objective
        # the corrected plan is feasible for the unrestricted model too: that model's
        # relaxation stays its lower bound
        new.relaxed_objective = res.relaxed_objective
        solve_s += new.solve_time_s
        build_s += new.build_time_s
        if new.status != "optimal":
            break
        rep = replay(env, new)
        bad, count = violating_hours(env, rep)
        new.replay_violations, new.replay_cost = count, rep.total_cost
        if count < best_count:
            best, best_count = new, count
    best.solve_time_s, best.build_time_s = solve_s, build_s
    return best
