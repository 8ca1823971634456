"""`heron` must stay domain-agnostic and light to import."""

import subprocess
import sys

HEAVY = ("powergrid", "pandapower", "lightsim2grid", "ray", "redis", "torch", "torchrl")


def test_heron_does_not_import_domain_or_heavy_packages():
    # heron.distributed and the execution modes included: an agent process imports
    # heron.distributed.agent and nothing of any domain
    code = (
        "import sys, heron, heron.core, heron.agents, heron.protocols, heron.messaging, "
        "heron.envs, heron.envs.execution, heron.scheduling, heron.distributed, "
        "heron.distributed.agent, heron.distributed.host, heron.distributed.launch, "
        "heron.distributed.proxy\n"
        f"bad = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heron imported: {out.stdout.strip()}"


def test_no_powergrid_references_in_heron_sources():
    import pathlib

    import heron

    root = pathlib.Path(heron.__file__).parent
    offenders = [
        str(p) for p in root.rglob("*.py")
        if "import powergrid" in p.read_text() or "from powergrid" in p.read_text()
    ]
    assert offenders == []
