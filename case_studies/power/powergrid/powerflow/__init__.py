"""Power flow for the power-grid case study: compile a pandapower net once, solve fast.

>>> from powergrid.powerflow import make_solver
>>> solver = make_solver(net)                  # lightsim2grid backend (alias "fast")
>>> solver.set_loads(p_mw, q_mvar)             # vectors in net.load order
>>> res = solver.solve()                       # PowerFlowResult, never raises on divergence

``backend="pandapower"`` runs ``pp.runpp`` instead (slow reference, every element type).
"""

from .base import BACKENDS, PowerFlowError, PowerFlowResult, PowerFlowSolver, make_solver

__all__ = ["BACKENDS", "PowerFlowError", "PowerFlowResult", "PowerFlowSolver", "make_solver"]
