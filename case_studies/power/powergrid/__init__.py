"""Power-grid case study for HERON: networked microgrids on IEEE test feeders.

Import what you need from the sub-packages (``powergrid.envs``, ``powergrid.setups``,
``powergrid.networks`` ...). Nothing heavy is imported here so that
``import powergrid`` stays cheap.
"""

__version__ = "0.1.0"
