"""HERON: Hierarchical Environments for Realistic Observability in Networks.

A domain-agnostic framework for hierarchical multi-agent RL: features with
visibility rules, field/coordinator/system agents, coordination protocols, message
brokers for distributed execution, and RLlib glue. Nothing here imports a domain
package (such as ``powergrid``), pandapower or ray at import time, so a new domain
can be built on ``heron`` alone.
"""

__version__ = "0.1.0"
