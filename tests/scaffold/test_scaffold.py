"""`python -m heron.scaffold` generates a project that runs and passes its own tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from heron.scaffold import FILES, ScaffoldError, create_project, installed_elsewhere
from heron.scaffold.__main__ import main

NAME, DOMAIN = "my_case_study", "powergrid"  # the Makefile defaults: the hard case


def _env(**extra: str) -> dict[str, str]:
    # no PYTHONPATH: the generated project must find its own package by itself
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST_") and k != "PYTHONPATH"}
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, timeout: float = 120, check: bool = True, **env: str):
    proc = subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _pytest_in(project: Path, check: bool = True):
    """The generated tests, as a user runs them: ``python -m pytest`` from the project root."""
    return _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],  # not -q: header
                cwd=project, check=check)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_project(NAME, DOMAIN, tmp_path_factory.mktemp("scaffold"))


def test_layout_and_no_domain_code(project: Path):
    expected = {out.format(domain=DOMAIN) for out in FILES.values()}
    got = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    assert got == expected
    for sub in ("agents", "envs", "utils"):
        assert (project / DOMAIN / sub / "__init__.py").is_file()
    text = "\n".join(p.read_text() for p in project.rglob("*") if p.is_file())
    assert "$" not in text.replace("$$", "")  # every placeholder was substituted
    for foreign in ("pandapower", "lightsim2grid", "case_studies", "powergrid.agents.grid"):
        assert foreign not in text
    assert 'dependencies = ["heron-marl"]' in (project / "pyproject.toml").read_text()


def test_example_runs_with_generated_package_only(project: Path):
    # run_path executes the example as a script; then check *which* powergrid ran
    code = (
        "import runpy, sys\n"
        "sys.argv = ['run_example.py', '--steps', '4']\n"
        "runpy.run_path('examples/run_example.py', run_name='__main__')\n"
        "import powergrid\n"
        f"assert powergrid.__file__.startswith({str(project)!r}), powergrid.__file__\n"
        "assert 'pandapower' not in sys.modules\n"
    )
    out = _run([sys.executable, "-c", code], cwd=project, PYTHONPATH=str(project)).stdout
    assert "step   4" in out and "episode return" in out


def test_generated_tests_pass_on_the_generated_package(project: Path):
    # heron-marl installs a `powergrid` too; the project's own must be the one tested
    out = _pytest_in(project).stdout
    assert "6 passed" in out
    assert f"powergrid under test: {project / DOMAIN / '__init__.py'}" in out


def test_generated_tests_pass_when_started_elsewhere(project: Path):
    out = _run([sys.executable, "-m", "pytest", str(project / "tests"),
                "-p", "no:cacheprovider", "--import-mode=importlib"], cwd=project.parent).stdout
    assert "6 passed" in out
    assert f"powergrid under test: {project / DOMAIN / '__init__.py'}" in out


def test_example_script_uses_the_generated_package(project: Path):
    out = _run([sys.executable, "examples/run_example.py", "--steps", "3"], cwd=project).stdout
    assert "step   3" in out and "coordinator_1" in out


def test_modules_filled_in_from_an_installed_package_fail_the_tests(tmp_path: Path):
    other = installed_elsewhere(DOMAIN)
    if other is None:
        pytest.skip(f"no other {DOMAIN!r} package is installed, so nothing can be merged in")
    project = create_project(NAME, DOMAIN, tmp_path)
    sub = sorted(p.name for p in Path(other).iterdir()
                 if (p / "__init__.py").is_file() and not (project / DOMAIN / p.name).exists())
    assert sub, f"{other} has no subpackage the generated project lacks"
    (project / DOMAIN / "utils" / "borrowed.py").write_text(f"import {DOMAIN}.{sub[0]}  # noqa\n")
    proc = _pytest_in(project, check=False)
    assert proc.returncode != 0
    assert f"'{DOMAIN}.{sub[0]}': '{Path(other).resolve() / sub[0]}" in proc.stdout
    assert "1 failed, 5 passed" in proc.stdout


def test_cli_explains_a_domain_that_is_already_installed(tmp_path: Path, capsys):
    if installed_elsewhere(DOMAIN) is None:
        pytest.skip(f"no other {DOMAIN!r} package is installed")
    assert main(["--name", NAME, "--domain", DOMAIN, "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"a package named {DOMAIN!r} is already installed" in out
    assert f"DOMAIN=my_{DOMAIN}" in out and "pip install -e" not in out.split("Note:")[0]
    assert main(["--name", "other", "--domain", "fresh_domain", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Note:" not in out and "pip install -e ." in out


def test_generated_code_is_lint_clean(project: Path):
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to the interpreter")
    _run([str(ruff), "check", "--no-cache", "."], cwd=project)


def test_refuses_to_overwrite(project: Path, capsys):
    with pytest.raises(ScaffoldError, match="refusing to overwrite"):
        create_project(NAME, DOMAIN, project.parent)
    assert main(["--name", NAME, "--domain", DOMAIN, "--dest", str(project.parent)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("name, domain, message", [
    ("my-case", "grid", "NAME=my_case"),
    ("1st", "grid", "NAME=project_1st"),
    ("ok", "class", "not a valid Python identifier"),
    ("ok", "json", "shadow the standard-library module"),
    ("ok", "heron", "DOMAIN=heron_case"),
])
def test_invalid_names_are_explained(tmp_path: Path, capsys, name, domain, message):
    assert main(["--name", name, "--domain", domain, "--dest", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_creates_project(tmp_path: Path, capsys):
    assert main(["--name", "demo", "--domain", "my_domain", "--dest", str(tmp_path)]) == 0
    assert (tmp_path / "demo" / "my_domain" / "envs" / "example_env.py").is_file()
    assert "class MyDomainEnv(HeronParallelEnv)" in (
        tmp_path / "demo" / "my_domain" / "envs" / "example_env.py").read_text()
    assert "Created" in capsys.readouterr().out


@pytest.mark.slow
def test_pip_install_editable_into_fresh_venv(tmp_path: Path):
    """A real ``pip install -e`` of the generated project, offline.

    The fresh venv reaches HERON and its dependencies through a ``.pth`` bridge to
    this interpreter's site-packages (``--system-site-packages`` alone would expose
    the *base* Python's packages, not this venv's). A neutral DOMAIN avoids a clash
    with the ``powergrid`` package that ``heron-marl`` itself ships.
    """
    import sysconfig

    project = create_project("my_case_study", "mydomain", tmp_path)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
         cwd=tmp_path)
    py = venv / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=tmp_path).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    Path(purelib, "_heron_bridge.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    _run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation",
          "-e", str(project)], cwd=tmp_path, timeout=300)
    where = _run([str(py), "-c", "import mydomain; print(mydomain.__file__)"],
                 cwd=tmp_path).stdout.strip()
    assert where == str(project / "mydomain" / "__init__.py")
    out = _run([str(py), "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
               cwd=project).stdout
    assert "6 passed" in out


def test_generated_env_takes_an_execution_mode(project: Path):
    """The generated env passes ``execution`` to heron, so DistributedHost can run it
    with the proxy mode it chooses: direct and proxy modes give the same episode."""
    code = (
        "import numpy as np\n"
        "from heron.envs.execution import DirectExecution, ProxyExecution\n"
        "from heron.messaging.memory import InMemoryBroker\n"
        "from powergrid.envs.example_env import PowergridEnv\n"
        "def run(mode):\n"
        "    env = PowergridEnv({'max_episode_steps': 5}, execution=mode)\n"
        "    obs, _ = env.reset(seed=3)\n"
        "    out = []\n"
        "    while env.agents:\n"
        "        obs, rew, *_ = env.step({a: np.full(env.action_space(a).shape, 0.3, 'float32')\n"
        "                                 for a in env.agents})\n"
        "        out.append([float(rew[a]) for a in sorted(rew)])\n"
        "    return out\n"
        "a = run(DirectExecution())\n"
        "b = run(ProxyExecution(InMemoryBroker()))\n"
        "assert a == b and len(a) == 5, (a, b)\n"
        "print('same')\n"
    )
    out = _run([sys.executable, "-c", code], cwd=project, PYTHONPATH=str(project)).stdout
    assert "same" in out
