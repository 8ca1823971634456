"""--wandb without a login logs offline into the run folder instead of prompting or failing."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from heron.training.runner import METRIC_FIELDS
from heron.training.wandb_logger import WandbLogger, credentials_source

wandb = pytest.importorskip("wandb", reason="install the 'wandb' extra: pip install -e '.[wandb]'")


@pytest.fixture
def no_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No API key anywhere, and W&B's own folders inside tmp_path (nothing in $HOME)."""
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path


def _rows(n: int) -> list[dict[str, float]]:
    """Rows shaped like metrics.csv; the losses are NaN as in an iteration without updates."""
    rows = []
    for i in range(1, n + 1):
        row = dict.fromkeys(METRIC_FIELDS, math.nan)
        row.update(iteration=i, env_steps=100.0 * i, episode_return_mean=-50.0 + i,
                   cost_mean=12.5 / i)
        rows.append(row)
    return rows


def test_no_login_falls_back_to_an_offline_run_in_the_run_folder(no_login: Path):
    assert credentials_source() is None
    run_dir = no_login / "run"
    lines: list[str] = []
    logger = WandbLogger.start(wandb, project="heron-test", run_dir=run_dir, name="tiny",
                               config={"algo": "mappo"}, log=lines.append)
    for row in _rows(3):
        logger.log_row(row)
    logger.finish()

    assert logger.mode == "offline"
    offline = logger.offline_dir
    assert offline is not None and offline.parent == run_dir / "wandb"
    assert offline.name.startswith("offline-run-")
    assert any("WANDB_MODE=offline" in line for line in lines)
    assert any(str(offline) in line and "wandb sync" in line for line in lines)
    # wandb's service process writes the run file asynchronously: give it a moment
    deadline = time.monotonic() + 15.0
    while True:
        data = b"".join(p.read_bytes() for p in offline.glob("run-*.wandb"))
        if (b"episode_return_mean" in data and b"cost_mean" in data) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert b"episode_return_mean" in data and b"cost_mean" in data   # the logged metrics
    assert b"vf_loss" not in data                                     # NaN-only: left out


def test_an_explicit_wandb_mode_is_respected(no_login: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    lines: list[str] = []
    logger = WandbLogger.start(wandb, project="heron-test", run_dir=no_login / "run",
                               name="tiny", config={}, log=lines.append)
    logger.log_row(_rows(1)[0])
    logger.finish()
    assert logger.mode == "disabled" and logger.offline_dir is None and lines == []
    assert not (no_login / "run" / "wandb").exists()


def test_credentials_are_found_where_wandb_login_puts_them(tmp_path: Path):
    assert credentials_source({"WANDB_API_KEY": "x" * 40}) == "WANDB_API_KEY"
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    assert credentials_source({"NETRC": str(netrc)}) == str(netrc)
    # an entry for another server does not count for this one
    assert credentials_source({"NETRC": str(netrc), "WANDB_BASE_URL": "https://wandb.example"}) \
        is None
    assert credentials_source({"NETRC": str(tmp_path / "missing")}) is None


@pytest.mark.slow
def test_training_with_wandb_and_no_login_writes_an_offline_run(no_login: Path, ray_local):
    """The runner's wiring: one tiny RLlib iteration with ``wandb=True``."""
    from heron.training.config import TrainConfig
    from heron.training.runner import train
    from heron.training.toy_env import make_toy_env

    cfg = TrainConfig(iterations=1, train_batch_size=64, minibatch_size=32, num_epochs=1,
                      hidden_sizes=(16, 16), run_dir=str(no_login / "run"), no_cuda=True,
                      wandb=True, wandb_project="heron-test")
    lines: list[str] = []
    result = train(cfg, make_toy_env, {"max_episode_steps": 8}, log=lines.append)
    offline = [p for p in (result.run_dir / "wandb").iterdir() if p.name.startswith("offline-run-")]
    assert len(offline) == 1 and any(offline[0].glob("run-*.wandb"))
    assert any(f"W&B offline run: {offline[0]}" in line for line in lines)
