"""Every example runs from case_studies/power, as the user guide says."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script,expect", [
    ("01_single_microgrid_basic.py", "plot saved to"),
    ("02_multi_microgrid_p2p.py", "energy traded peer-to-peer"),
    ("03_price_coordination.py", "correlation of gen1 output with price"),
    ("04_custom_device.py", "wind energy delivered"),
    ("06_distributed_mode.py", "Redis with delays"),
    ("07_custom_protocol.py", "level +1.0"),
])
def test_example_runs(script, expect, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    args = [sys.executable, f"examples/{script}"]
    if script.startswith(("01", "03")):
        args += ["--out", str(tmp_path)]
    out = subprocess.run(args, cwd=CASE_DIR, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert expect in out.stdout


def test_p2p_example_saves_money():
    sys.path.insert(0, str(CASE_DIR / "examples"))
    try:
        import importlib

        mod = importlib.import_module("02_multi_microgrid_p2p")
        res = mod.main(["--day", "1"])
    finally:
        sys.path.pop(0)
    assert sum(res["with"].values()) <= sum(res["without"].values()) + 1e-6


def test_price_coordination_follows_price(tmp_path):
    import importlib

    sys.path.insert(0, str(CASE_DIR / "examples"))
    try:
        log = importlib.import_module("03_price_coordination").main(["--out", str(tmp_path)])
    finally:
        sys.path.pop(0)
    import numpy as np

    assert np.corrcoef(log["price"], log["gen1"])[0, 1] > 0.8
