"""The RLlib-style ``"__all__"`` entry, named and handled in one place.

:meth:`heron.envs.base.HeronParallelEnv.step` adds ``terminateds[ALL_AGENTS_KEY]``
and ``truncateds[ALL_AGENTS_KEY]`` (episode-wide flags, as RLlib's multi-agent API
expects). It is not an agent: code that wants one entry per agent (PettingZoo's
strict API, RLlib's ``ParallelPettingZooEnv``, which recomputes the key itself and
would count an incoming one as an agent, or summing rewards) goes through
:func:`agent_entries` instead of filtering the string by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = ["ALL_AGENTS_KEY", "agent_entries"]

#: key of the episode-wide entry in HERON's ``terminateds``/``truncateds`` dicts
ALL_AGENTS_KEY = "__all__"

V = TypeVar("V")


def agent_entries(d: Mapping[str, V]) -> dict[str, V]:
    """A new dict with ``d``'s per-agent entries only (``ALL_AGENTS_KEY`` dropped).

    ``d`` is not changed; a dict without the key comes back as an equal copy.
    """
    return {k: v for k, v in d.items() if k != ALL_AGENTS_KEY}
