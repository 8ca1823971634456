import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from powergrid.cli import main
from powergrid.setups.loader import SETUPS_DIR


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_for_every_subcommand():
    out = run("--help")
    assert out.exit_code == 0
    for cmd in ("simulate", "train", "evaluate", "optimize", "bench", "setups", "validate"):
        assert cmd in out.output
        sub = run(cmd, "--help")
        assert sub.exit_code == 0 and "Usage" in sub.output


def test_setups_lists_agents_and_devices():
    out = run("setups")
    assert "ieee34_ieee13" in out.output and "gen1 (Generator)" in out.output


def test_validate_reports_every_problem(tmp_path):
    cfg = yaml.safe_load((SETUPS_DIR / "ieee34_ieee13" / "config.yml").read_text())
    cfg["microgrid_configs"][0]["devices"][0]["type"] = "Nuclear"
    cfg["microgrid_configs"][1]["devices"][0]["device_state_config"]["p_min_MW"] = 99
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(cfg))
    out = CliRunner().invoke(main, ["validate", str(bad)])
    assert out.exit_code == 1
    assert "2 problem(s)" in out.output and "Nuclear" in out.output and "p_min_MW" in out.output
    good = run("validate", str(SETUPS_DIR / "ieee34_ieee13" / "config.yml"))
    assert good.exit_code == 0 and "OK" in good.output


def test_simulate_writes_summary_and_plot(tmp_path):
    out = run("simulate", "--setup", "single_microgrid", "--days", "1", "--out", str(tmp_path))
    assert out.exit_code == 0, out.output
    assert (tmp_path / "summary.csv").exists() and (tmp_path / "day0.png").exists()


def test_optimize_and_evaluate(tmp_path):
    out = run("optimize", "--setup", "single_microgrid", "--day", "0", "--out", str(tmp_path / "o"))
    assert out.exit_code == 0 and "status: optimal" in out.output
    assert (tmp_path / "o" / "dispatch.csv").exists()
    out = run("evaluate", "--setup", "single_microgrid", "--days", "1",
              "--policies", "oracle,rule", "--out", str(tmp_path / "e"))
    assert out.exit_code == 0, out.output
    assert "rule" in out.output and (tmp_path / "e" / "results.json").exists()


def test_validate_never_unpickles_and_says_a_run_would(hostile_pickle_setup):
    config, data, marker = hostile_pickle_setup
    out = CliRunner().invoke(main, ["validate", str(config)])
    assert out.exit_code == 0, out.output
    assert not marker.exists()  # the pickle's code did not run
    assert "OK" in out.output and f"dataset_path {data} is a pickle" in out.output
    assert "will unpickle it" in out.output and "trusted code" in out.output
    strict = CliRunner().invoke(main, ["validate", "--no-pickle", str(config)])
    assert strict.exit_code == 1
    assert "refused" in strict.output and "save_dataset(" in strict.output
    assert not marker.exists()


@pytest.mark.parametrize("command", [["simulate"], ["evaluate"], ["optimize"], ["train", "--test"]])
def test_no_pickle_refuses_before_loading(hostile_pickle_setup, tmp_path, command):
    config, _, marker = hostile_pickle_setup
    out = CliRunner().invoke(main, [*command, "--setup", str(config), "--no-pickle"])
    assert out.exit_code == 1, out.output
    assert "pickles are refused" in out.output and "data.npz" in out.output
    assert not marker.exists()


def test_validate_checks_a_safe_dataset(tmp_path):
    hour = np.arange(48) % 24
    frame = pd.DataFrame({"load": 0.5 + 0.01 * hour, "solar": 0.0, "wind": 0.3,
                          "price": np.where(hour == 5, 1e300, 40.0)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    cfg = yaml.safe_load((SETUPS_DIR / "single_microgrid" / "config.yml").read_text())
    cfg["dataset_path"] = "data.csv"
    (tmp_path / "config.yml").write_text(yaml.safe_dump(cfg))
    out = CliRunner().invoke(main, ["validate", str(tmp_path / "config.yml")])
    assert out.exit_code == 1
    assert "['train']['price']" in out.output and "first at hour 5" in out.output


def test_train_defaults_to_torchrl_and_the_example_script_to_rllib(tmp_path, monkeypatch):
    """`heron-power train` uses TorchRL unless told otherwise; the guide's script
    (examples/05_mappo_training.py -> powergrid.training.main) keeps RLlib."""
    import powergrid.training as training

    seen = []
    monkeypatch.setattr(training, "main", lambda argv: seen.append(argv))
    out = CliRunner().invoke(main, ["train", "--test", "--run-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert training.parse_config(seen[-1]).trainer == "torchrl"
    CliRunner().invoke(main, ["train", "--trainer", "rllib", "--test"])
    assert training.parse_config(seen[-1]).trainer == "rllib"
    assert training.parse_config(["--test"]).trainer == "rllib"
