"""powergrid.evaluate_checkpoint: a checkpoint against the baselines on test days.

One tiny real training (1 iteration, 48 env steps, observation normalisation on, so
the evaluation path must apply the checkpoint's normaliser) feeds every test; the
numbers are meaningless, the plumbing and the report format are what is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("powergrid.envs.multi_agent_microgrids")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, ray_local) -> Path:
    from heron.training import TrainConfig
    from heron.training.runner import train
    from powergrid.training import env_config_for, make_env

    run = tmp_path_factory.mktemp("eval") / "run"
    cfg = TrainConfig(algo="mappo", iterations=1, train_batch_size=48, minibatch_size=24,
                      num_epochs=1, hidden_sizes=(16, 16), reward_scale=0.01,
                      normalize_obs=True, setup="ieee34_ieee13", run_dir=str(run),
                      tensorboard=False, no_cuda=True)
    result = train(cfg, make_env, env_config_for(cfg), log=lambda s: None)
    assert result.final_checkpoint is not None
    return result.run_dir


def test_report_json_plot_and_comparison(tiny_run, tmp_path):
    from powergrid.evaluate_checkpoint import evaluate_checkpoint, format_table

    out = tmp_path / "report"
    report = evaluate_checkpoint(tiny_run / "checkpoints" / "final", None, 2, out)
    assert report["setup"] == "ieee34_ieee13" and report["days"] == 2
    assert report["split"] == "test" and report["deterministic"] is True
    assert set(report["policies"]) == {"learnt", "rule", "follow-load", "random", "zero"}
    for r in report["policies"].values():
        assert len(r["daily_cost"]) == 2
        assert r["mean_daily_cost"] == pytest.approx(sum(r["daily_cost"]) / 2)
        for key in ("violation_rate", "convergence_rate", "complete_days"):
            assert 0.0 <= r[key] <= 1.0, key
    learnt = report["policies"]["learnt"]["mean_daily_cost"]
    for base in ("random", "rule", "follow-load", "zero"):
        c = report["comparison"][base]
        assert c["cost_saving"] == pytest.approx(
            report["policies"][base]["mean_daily_cost"] - learnt)
        assert c["beats_on_cost"] == (c["cost_saving"] > 0)
    on_disk = json.loads((out / "evaluation.json").read_text())
    assert on_disk["policies"]["learnt"]["daily_cost"] == report["policies"]["learnt"]["daily_cost"]
    assert (out / "evaluation.png").stat().st_size > 1000
    assert report["files"] == {"json": str(out / "evaluation.json"),
                               "plot": str(out / "evaluation.png")}
    assert "learnt" in format_table(report)
    ci = report["policies"]["learnt"]["mean_daily_cost_ci95"]
    assert ci[0] <= report["policies"]["learnt"]["mean_daily_cost"] <= ci[1]


def test_deterministic_and_run_folder_accepted(tiny_run):
    from powergrid.evaluate_checkpoint import evaluate_checkpoint

    a = evaluate_checkpoint(tiny_run, days=1, baselines=())
    b = evaluate_checkpoint(tiny_run / "checkpoints" / "final", days=1, baselines=())
    assert a["policies"]["learnt"]["daily_cost"] == b["policies"]["learnt"]["daily_cost"]
    assert a["files"] == {}                              # no out_dir: nothing written


def test_module_cli(tiny_run, tmp_path, capsys):
    from powergrid.evaluate_checkpoint import main

    report = main([str(tiny_run), "--days", "1", "--out", str(tmp_path / "cli")])
    printed = capsys.readouterr().out
    assert "mean daily cost" in printed and "rule" in printed
    assert (tmp_path / "cli" / "evaluation.json").exists() and report["days"] == 1


def test_bad_inputs_are_explained(tiny_run, tmp_path):
    from powergrid.evaluate_checkpoint import evaluate_checkpoint, resolve_checkpoint

    with pytest.raises(FileNotFoundError, match="neither a heron checkpoint"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="days must be in"):
        evaluate_checkpoint(tiny_run, days=10_000)
    out = subprocess.run([sys.executable, "-m", "powergrid.evaluate_checkpoint", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "neither a heron checkpoint" in out.stderr
