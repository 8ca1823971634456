"""Power flow for the power-grid case study: compile a pandapower net once, solve fast.

>>> from powergrid.powerflow import make_solver
>>> solver = make_solver(net)                  # lightsim2grid backend (alias "fast")
>>> solver.set_loads(p_mw, q_mvar)             # vectors in net.load order
>>> res = solver.solve()                       # PowerFlowResult, never raises on divergence

``backend="sweep"`` solves radial networks by exact backward/forward sweeps (Newton
where meshed; the environments' default), ``backend="pandapower"`` runs ``pp.runpp``
(slow reference, every element type).
"""

from .base import (
    BACKENDS,
    TABLE_SIGN,
    PowerFlowError,
    PowerFlowResult,
    PowerFlowSolver,
    make_solver,
)

__all__ = ["BACKENDS", "TABLE_SIGN", "PowerFlowError", "PowerFlowResult", "PowerFlowSolver",
           "make_solver"]
