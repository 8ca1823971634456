"""Bundled pre-trained policies, so `make demo` can show a trained agent in seconds.

A bundle is the *inference* part of a heron.training checkpoint, in HERON's
pickle-free format (:mod:`heron.training.safe_policy`): ``heron_policy.json``
(spaces, padding, observation normalisation), ``heron_actor.json`` (the actor
network's layers) and ``heron_actor.safetensors`` (its weights, tensors only).
Loading a bundle parses JSON and raw tensors; it never unpickles and cannot run
code. Critic, optimiser and algorithm state are dropped (about 60 KB), so a bundle
can be evaluated but not resumed. Rebuild with ``make pretrained`` (trains for 20
minutes with bench/bench_training.py, then ``python -m powergrid.pretrained export
<checkpoint> <setup>``).

``ieee34_ieee13_mappo`` was converted from RLlib's pickled module files with
``export_safe_policy``; its actions on test days are identical to the RLlib
module's (same evaluation numbers).
"""

from __future__ import annotations

import shutil
from pathlib import Path

PRETRAINED_DIR = Path(__file__).parent


def pretrained_checkpoint(setup: str = "ieee34_ieee13", algo: str = "mappo") -> Path | None:
    path = PRETRAINED_DIR / f"{setup}_{algo}"
    return path if (path / "heron_policy.json").exists() else None


def export(checkpoint: str | Path, setup: str, algo: str = "mappo") -> Path:
    """Write the pickle-free inference files of ``checkpoint`` as the bundle for ``setup``.

    A checkpoint written by heron.training already carries them and is copied as
    is; an older one (RLlib files only) is converted, which unpickles it once: only
    export checkpoints you trust.
    """
    from heron.training.safe_policy import export_safe_policy

    src = Path(checkpoint)
    if not (src / "heron_policy.json").exists():
        raise FileNotFoundError(f"{src} is not a heron.training checkpoint "
                                "(no heron_policy.json); pass .../checkpoints/final.")
    dst = PRETRAINED_DIR / f"{setup}_{algo}"
    tmp = dst.with_name(dst.name + ".partial")     # the old bundle stays until this works
    if tmp.exists():
        shutil.rmtree(tmp)
    export_safe_policy(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    return tmp.rename(dst)
