"""The user guide's section D test commands work from ``case_studies/power``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

POWER_DIR = Path(__file__).resolve().parents[1]


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=POWER_DIR,
                          capture_output=True, text=True, timeout=600)


def test_a_specific_suite_runs_from_the_case_study_folder():
    out = run_pytest("tests/agents/test_power_grid_agent.py", "-q", "-p", "no:cacheprovider")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert " passed" in out.stdout


def test_all_and_integration_suites_are_collected_from_there():
    for target in ("tests/", "tests/integration/"):
        out = run_pytest(target, "--collect-only", "-q", "-p", "no:cacheprovider")
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        assert "tests/integration/test_end_to_end.py" in out.stdout
    assert (POWER_DIR / "tests" / "test_train_mappo.sh").exists()
