"""Weights & Biases logging for :mod:`heron.training`: online with a login, offline without.

``--wandb`` should never be the reason a training run fails or hangs. Without an
API key ``wandb.init`` either prompts (a training job has nobody to answer) or
errors, so the logger then runs W&B in offline mode: the run is written under
the run folder and can be uploaded later with ``wandb sync``. An explicit
``WANDB_MODE`` (``online``, ``offline``, ``disabled``) is always respected.

Imports ``wandb`` only inside :func:`require_wandb`.
"""

from __future__ import annotations

import math
import netrc
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["WandbLogger", "WandbMissingError", "credentials_source", "require_wandb"]

DEFAULT_HOST = "https://api.wandb.ai"


class WandbMissingError(ImportError):
    """``wandb=True`` but the package is not installed."""


def require_wandb() -> Any:
    """Import wandb or fail *before* Ray starts, with the fix in the message."""
    try:
        import wandb
    except ImportError as exc:
        raise WandbMissingError(
            "W&B logging was requested (--wandb) but the 'wandb' package is not installed. "
            "Install it with: pip install wandb   (or run without --wandb)."
        ) from exc
    return wandb


def _netrc_path(environ: Mapping[str, str]) -> Path | None:
    if environ.get("NETRC"):
        return Path(environ["NETRC"]).expanduser()
    for name in ("~/.netrc", "~/_netrc"):
        path = Path(name).expanduser()
        if path.exists():
            return path
    return None


def credentials_source(environ: Mapping[str, str] | None = None) -> str | None:
    """Where W&B would find credentials, or ``None`` when nobody logged in.

    The same places ``wandb.init`` looks, in its order: ``WANDB_API_KEY``,
    ``WANDB_IDENTITY_TOKEN_FILE``, then the netrc entry that ``wandb login`` writes
    for the server (``WANDB_BASE_URL``, default api.wandb.ai). Only files and
    variables are read; nothing is sent anywhere.
    """
    env = os.environ if environ is None else environ
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        if env.get(var):
            return var
    path = _netrc_path(env)
    host = urlsplit(env.get("WANDB_BASE_URL") or DEFAULT_HOST).netloc
    if path is None or not host:
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return None
    return str(path) if entry and entry[2] else None


class WandbLogger:
    """One W&B run that receives the rows of ``metrics.csv``."""

    def __init__(self, wandb: Any, run: Any, mode: str) -> None:
        self._wandb = wandb  # module-level ``wandb.log``: what stand-ins and all versions have
        self.run = run
        self.mode = mode

    @classmethod
    def start(cls, wandb: Any, *, project: str, run_dir: str | Path, name: str,
              config: dict[str, Any], log: Callable[[str], None] = print,
              environ: Mapping[str, str] | None = None) -> WandbLogger:
        """``wandb.init`` into ``run_dir``, offline when no credentials are configured."""
        env = os.environ if environ is None else environ
        mode = env.get("WANDB_MODE") or None
        if mode is None and credentials_source(env) is None:
            mode = "offline"
            log("[heron] W&B: no API key configured (WANDB_API_KEY or `wandb login`), "
                "so logging offline (WANDB_MODE=offline).")
        run = wandb.init(project=project, name=name, dir=str(run_dir), config=config,
                         mode=mode)
        logger = cls(wandb, run, mode or "online")
        if logger.offline_dir is not None:
            log(f"[heron] W&B offline run: {logger.offline_dir} "
                f"(upload later with: wandb sync {logger.offline_dir})")
        return logger

    @property
    def offline_dir(self) -> Path | None:
        """The folder of an offline run (what ``wandb sync`` uploads); ``None`` online."""
        if self.mode != "offline":
            return None
        sync_dir = getattr(getattr(self.run, "settings", None), "sync_dir", None)
        return Path(sync_dir) if sync_dir else None

    def log_row(self, row: Mapping[str, float]) -> None:
        """Log one iteration's metrics at step ``row['iteration']``; NaNs are left out."""
        numeric = {k: float(v) for k, v in row.items() if not math.isnan(float(v))}
        self._wandb.log(numeric, step=int(row["iteration"]))

    def finish(self) -> None:
        self.run.finish()
