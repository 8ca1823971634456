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
