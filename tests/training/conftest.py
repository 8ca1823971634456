"""Fixtures for the training tests: one small local Ray for the whole session.

Starting Ray costs seconds, so the training tests share it; ``train()`` leaves a
Ray it did not start running.
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
