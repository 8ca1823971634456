"""Optimal-dispatch oracle: a perfect-forecast convex OPF over a day, and its replay.

>>> from powergrid.optimization import solve_day, replay, make_env
>>> from powergrid.setups import load_setup
>>> cfg = load_setup("ieee34_ieee13")
>>> res = solve_day(cfg, day=0)                  # status, objective, setpoints, diagnostics
>>> rep = replay(make_env(cfg, "test"), res)     # the same setpoints through the env
>>> policies = res.to_policies(env)              # OraclePolicy per agent
"""

from powergrid.optimization.network import NetworkModelError, RadialNetwork
from powergrid.optimization.oracle import (
    OracleResult,
    SolverUnavailableError,
    solve_day,
    solve_scenario,
)
from powergrid.optimization.policy import OraclePolicy, device_actions, oracle_policies
from powergrid.optimization.replay import ReplayResult, replay
from powergrid.optimization.scenario import (
    DayScenario,
    UnsupportedSetupError,
    env_config_for,
    make_env,
    scenario_from_env,
)

__all__ = [
    "DayScenario",
    "NetworkModelError",
    "OraclePolicy",
    "OracleResult",
    "RadialNetwork",
    "ReplayResult",
    "SolverUnavailableError",
    "UnsupportedSetupError",
    "device_actions",
    "env_config_for",
    "make_env",
    "oracle_policies",
    "replay",
    "scenario_from_env",
    "solve_day",
    "solve_scenario",
]
