"""Pytest fixture: one small local Ray for a whole test session.

Starting Ray costs seconds, so training tests share it; ``train()`` leaves a Ray it
did not start running. Import it into a conftest to register it::

    from heron.testing.ray_local import ray_local
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    pytest.importorskip("torch")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=min(2, os.cpu_count() or 1), include_dashboard=False,
                 log_to_driver=False)
    yield
    if started:
        ray.shutdown()
