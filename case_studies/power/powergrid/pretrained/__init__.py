"""Bundled pre-trained policies, so `make demo` can show a trained agent in seconds.

A bundle is the *inference* part of a heron.training checkpoint: ``heron_policy.json``
(spaces, padding, observation normalisation) and the RLModule weights. Optimiser and
algorithm state are dropped (about 100 KB instead of 420 KB). Rebuild with
``make pretrained`` (trains for 20 minutes with bench/bench_training.py, then
``python -m powergrid.pretrained export <checkpoint> <setup>``).

The RLModule files are pickles written by RLlib; only load bundles you trust (these
ship with the package and were produced by the build above).
"""

from __future__ import annotations

import shutil
from pathlib import Path

PRETRAINED_DIR = Path(__file__).parent
MODULES = Path("learner_group") / "learner" / "rl_module"


def pretrained_checkpoint(setup: str = "ieee34_ieee13", algo: str = "mappo") -> Path | None:
    path = PRETRAINED_DIR / f"{setup}_{algo}"
    return path if (path / "heron_policy.json").exists() else None


def export(checkpoint: str | Path, setup: str, algo: str = "mappo") -> Path:
    """Copy the inference part of ``checkpoint`` into the bundle for ``setup``."""
    src = Path(checkpoint)
    if not (src / "heron_policy.json").exists():
        raise FileNotFoundError(f"{src} is not a heron.training checkpoint "
                                "(no heron_policy.json); pass .../checkpoints/final.")
    dst = PRETRAINED_DIR / f"{setup}_{algo}"
    if dst.exists():
        shutil.rmtree(dst)
    (dst / MODULES).parent.mkdir(parents=True)
    shutil.copy2(src / "heron_policy.json", dst / "heron_policy.json")
    shutil.copytree(src / MODULES, dst / MODULES)
    return dst
