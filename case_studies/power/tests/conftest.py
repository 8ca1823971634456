"""Fixtures shared by the power case-study tests.

The Redis server fixtures come from :mod:`heron.testing.redis_service`, the same code
HERON's own suite uses (``tests/conftest.py`` cannot be imported from here under
``--import-mode=importlib``).
"""

from __future__ import annotations

from heron.testing.redis_service import (  # noqa: F401  (pytest fixtures, used by name)
    redis_server,
    redis_url,
    spare_redis_server,
)
