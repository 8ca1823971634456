"""Power flow for the power-grid case study: compile a pandapower net once, solve fast.

>>> from powergrid.powerflow import make_solver
>>> solver = make_solver(net)                  # the default sweep backend (alias "fast")
>>> solver.set_loads(p_mw, q_mvar)             # vectors in net.load order
>>> res = solver.solve()                       # PowerFlowResult, never raises on divergence

The default, ``backend="sweep"``, solves radial networks by exact backward/forward
sweeps (Newton where meshed); ``backend="lightsim2grid"`` always runs Newton;
``backend="pandapower"`` runs ``pp.runpp`` (slow reference, every element type).
"""

from .base import (
    BACKENDS,
    DEFAULT_BACKEND,
    TABLE_SIGN,
    PowerFlowError,
    PowerFlowResult,
    PowerFlowSolver,
    make_solver,
)

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "TABLE_SIGN", "PowerFlowError", "PowerFlowResult", "PowerFlowSolver",
           "make_solver"]
