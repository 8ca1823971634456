"""Bundled pre-trained policies, so `make demo` can show a trained agent in seconds.

A bundle is the *inference* part of a heron.training checkpoint, in HERON's
pickle-free format (:mod:`heron.training.safe_policy`): ``heron_policy.json``
(spaces, padding, observation normalisation), ``heron_actor.json`` (the actor
network's layers) and ``heron_actor.safetensors`` (its weights, tensors only).
Loading a bundle parses JSON and raw tensors; it never unpickles and cannot run
code. Critic, optimiser and algorithm state are dropped (about 60 KB), so a bundle
can be evaluated but not resumed. A TorchRL bundle is ``heron_torchrl.json`` (spaces,
normaliser, algorithm) and ``actor.safetensors``. Rebuild with ``make pretrained``
(trains with ``bench/bench_training.py --trainer torchrl``, then ``python -m
powergrid.pretrained export <checkpoint> <setup> [algo]``).

``ieee34_ieee13_mappo-lag`` (the demo's) is a TorchRL MAPPO-Lag policy; the older
RLlib MAPPO bundle ``ieee34_ieee13_mappo`` stays for comparison (converted from
RLlib's pickled module files with ``export_safe_policy``; its actions are identical to
the RLlib module's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

PRETRAINED_DIR = Path(__file__).parent


#: The algorithm of the bundle `make demo` shows, and its trainer's marker file.
BUNDLED_ALGO = "mappo-lag"
_MARKERS = ("heron_torchrl.json", "heron_policy.json")   # TorchRL, RLlib bundles


def pretrained_checkpoint(setup: str = "ieee34_ieee13", algo: str = BUNDLED_ALGO
                          ) -> Path | None:
    path = PRETRAINED_DIR / f"{setup}_{algo}"
    return path if any((path / m).exists() for m in _MARKERS) else None


def export(checkpoint: str | Path, setup: str, algo: str = BUNDLED_ALGO) -> Path:
    """Write the pickle-free inference files of ``checkpoint`` as the bundle for ``setup``.

    A TorchRL checkpoint gives ``heron_torchrl.json`` + ``actor.safetensors``. An RLlib
    checkpoint written by heron.training already carries its pickle-free files and is
    copied as is; an older one (RLlib files only) is converted, which unpickles it
    once: only export checkpoints you trust.
    """
    from heron.training.safe_policy import export_safe_policy

    src = Path(checkpoint)
    if (src / "heron_torchrl.json").exists():
        from heron.training.torchrl.policy import export_actor as write
    elif (src / "heron_policy.json").exists():
        write = export_safe_policy
    else:
        raise FileNotFoundError(f"{src} is not a heron.training checkpoint (no "
                                "heron_torchrl.json or heron_policy.json); pass "
                                ".../checkpoints/final.")
    dst = PRETRAINED_DIR / f"{setup}_{algo}"
    tmp = dst.with_name(dst.name + ".partial")     # the old bundle stays until this works
    if tmp.exists():
        shutil.rmtree(tmp)
    write(src, tmp)
    if dst.exists():
        shutil.rmtree(dst)
    return tmp.rename(dst)
