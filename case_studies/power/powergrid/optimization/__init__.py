"""Optimal dispatch: the perfect-forecast oracle over a day, its replay, and MPC.

>>> from powergrid.optimization import solve_day, replay, make_env
>>> from powergrid.setups.loader import load_setup
>>> cfg = load_setup("ieee34_ieee13")
>>> env = make_env(cfg, "test")
>>> res = solve_day(cfg, day=0, env=env)         # status, objective, setpoints, diagnostics
>>> rep = replay(env, res)                       # the same setpoints through the env
>>> policies = res.to_policies(env)              # OraclePolicy per agent

:mod:`.oracle` says which module holds which part (model, devices, metering,
solving, AC correction, result). :mod:`.mpc` re-plans the same model every hour
from forecasts.
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
