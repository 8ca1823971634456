"""Fixtures shared by the power case-study tests.

The Redis server fixtures come from :mod:`heron.testing.redis_service`, the same code
HERON's own suite uses (``tests/conftest.py`` cannot be imported from here under
``--import-mode=importlib``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from heron.testing.redis_service import (  # noqa: F401  (pytest fixtures, used by name)
    redis_server,
    redis_url,
    spare_redis_server,
)


@pytest.fixture
def hostile_pickle_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(config.yml, data.pkl, marker)``: a valid setup whose pickled dataset writes
    ``marker`` when it is unpickled, so a test can prove that a command did not unpickle it
    (marker absent) and that the payload is live (marker present after ``load_dataset``).
    """
    from powergrid.setups.loader import SETUPS_DIR

    marker = tmp_path / "unpickled.marker"

    class WritesMarker:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.write_text, (marker, "code in the pickle ran"))

    n = 48
    split = {"load": np.full(n, 0.5), "solar": np.zeros(n), "wind": np.full(n, 0.3),
             "price": np.full(n, 40.0)}
    data = tmp_path / "data.pkl"
    data.write_bytes(pickle.dumps({"train": {**split, "payload": WritesMarker()},
                                   "test": split}))
    cfg = yaml.safe_load((SETUPS_DIR / "single_microgrid" / "config.yml").read_text())
    cfg["dataset_path"] = "data.pkl"
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(cfg))
    return config, data, marker
