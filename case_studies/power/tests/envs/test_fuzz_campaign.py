"""A shorter run of bench/bench_fuzz_campaign.py (issue 18); slow, ``make test-slow``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from heron.testing.action_fuzz import GARBAGE_KINDS, VALID_KINDS

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[4] / "bench" / "bench_fuzz_campaign.py"


def load_campaign():
    spec = importlib.util.spec_from_file_location("bench_fuzz_campaign", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_campaign_finds_no_bare_error_no_silent_acceptance_no_nonfinite_output():
    out = load_campaign().run(8000, seed=11, ref_steps=0, quiet=True)
    t = out["total"]
    assert t.tried == 8000
    assert (t.bare_errors, t.silent_acceptances, t.non_finite_outputs,
            t.state_changed_on_error) == (0, 0, 0, 0), t.examples
    assert t.valid_steps > 2000 and t.clear_errors > 2000
    assert set(out["kinds"]) == set(VALID_KINDS) | set(GARBAGE_KINDS), "every kind was tried"
