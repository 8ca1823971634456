"""A pytest fixture that undoes protocol registrations made by a test.

Why shared: heron's suite and the case studies both register test protocols by name,
and a conftest is not importable across suites under ``--import-mode=importlib``;
each conftest imports this fixture instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heron.protocols.registry import PROTOCOL_REGISTRY

__all__ = ["scratch_registry"]


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Names registered by a test are removed afterwards (earlier ones restored)."""
    before = dict(PROTOCOL_REGISTRY)
    yield
    PROTOCOL_REGISTRY.clear()
    PROTOCOL_REGISTRY.update(before)
