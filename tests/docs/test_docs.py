"""Every code block in the documentation runs.

Sources: ``docs/*.md``, ``README.md`` and ``case_studies/power/README.md``.

* ```` ```python ```` blocks of one file run in order, in one fresh namespace (a
  subprocess per file, cwd = repository root, ``MPLBACKEND=Agg``), so a later
  block may use what an earlier one defined, exactly as a reader pasting them
  into one interpreter would. A failure names the file, the block number and its
  line.
* ```` ```bash ```` blocks are *not* run (installs, training, servers), except
  those whose first line is ``# doctest: run``: they run with ``bash -euo
  pipefail`` from the repository root with this interpreter's ``bin/`` first on
  ``PATH``. Keep those cheap.
* ```` ```yaml ```` blocks must parse.

Files run concurrently (a few at a time) because each pays the import of
pandapower and friends. ``NUMBA_DISABLE_JIT=1`` skips pandapower's per-process
numba compilation (about 2 s of CPU per file, when a network is first compiled);
it changes speed, not results, and the rest of the test suite runs with numba.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 180
RUN_MARKER = "# doctest: run"


def doc_files() -> list[Path]:
    files = sorted((ROOT / "docs").glob("*.md"))
    files += [ROOT / "README.md", ROOT / "case_studies" / "power" / "README.md"]
    return [f for f in files if f.exists()]


@dataclass
class Block:
    lang: str
    source: str
    line: int  # 1-based line of the opening fence
    number: int  # 1-based among the file's blocks of this language


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")


def extract_blocks(text: str) -> list[Block]:
    """Fenced code blocks in document order (indented fences, e.g. in lists, included)."""
    blocks: list[Block] = []
    counts: dict[str, int] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        lang = m.group("info").lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            line = lines[i]
            # drop the fence's indentation (list items) but never real code indentation
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            i += 1
        else:
            raise ValueError(f"unclosed code fence opened at line {start + 1}")
        i += 1
        counts[lang] = counts.get(lang, 0) + 1
        blocks.append(Block(lang, textwrap.dedent("\n".join(body)) + "\n", start + 1,
                            counts[lang]))
    return blocks


# The runner executes blocks in a fresh module registered as ``__main__`` so that
# classes defined in a block (dataclasses included) behave as in a script.
RUNNER = r"""
import json, sys, traceback, types
blocks = json.load(open(sys.argv[1]))
module = types.ModuleType("__main__")
module.__file__ = sys.argv[2]
sys.modules["__main__"] = module
for b in blocks:
    code = compile(b["source"], f"{sys.argv[2]}:python-block-{b['number']}(line {b['line']})", "exec")
    try:
        exec(code, module.__dict__)
    except BaseException:
        traceback.print_exc()
        print(f"@@FAILED python block {b['number']} (line {b['line']})", file=sys.stderr)
        sys.exit(1)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env.setdefault("NUMBA_DISABLE_JIT", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    return env


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def run_file(path: Path) -> list[str]:
    """Run a file's python blocks, then its marked bash blocks; return failure reports."""
    blocks = extract_blocks(path.read_text(encoding="utf-8"))
    failures: list[str] = []
    py = [b for b in blocks if b.lang in ("python", "py", "python3")]
    if py:
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "blocks.json"
            spec.write_text(json.dumps([b.__dict__ for b in py]))
            try:
                proc = subprocess.run([sys.executable, "-c", RUNNER, str(spec), _rel(path)],
                                      cwd=ROOT, env=_env(), capture_output=True, text=True,
                                      timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                failures.append(f"{_rel(path)}: python blocks timed out after {TIMEOUT_S} s")
            else:
                if proc.returncode != 0:
                    failures.append(f"{_rel(path)}: {_tail(proc.stderr, 4000)}"
                                    f"\n--- stdout (tail) ---\n{_tail(proc.stdout, 1500)}")
    for b in blocks:
        if b.lang not in ("bash", "sh", "shell", "console"):
            continue
        if not b.source.lstrip().startswith(RUN_MARKER):
            continue
        try:
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", b.source], cwd=ROOT,
                                  env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            failures.append(f"{_rel(path)}: bash block {b.number} (line {b.line}) timed out")
            continue
        if proc.returncode != 0:
            failures.append(f"{_rel(path)}: bash block {b.number} (line {b.line}) exited "
                            f"{proc.returncode}\n{_tail(proc.stderr + proc.stdout, 3000)}")
    for b in blocks:
        if b.lang in ("yaml", "yml"):
            import yaml

            try:
                yaml.safe_load(b.source)
            except yaml.YAMLError as exc:
                failures.append(f"{_rel(path)}: yaml block {b.number} (line {b.line}): {exc}")
    return failures


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-n:]


DOCS = doc_files()
_futures: dict[Path, Future] = {}
_pool: ThreadPoolExecutor | None = None


@pytest.fixture(scope="module")
def doc_runs(request):
    """Start every collected doc file at once (a few in parallel); tests wait for theirs."""
    global _pool
    wanted = [item.callspec.params["doc"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_doc_code_blocks"
              and hasattr(item, "callspec")]
    workers = max(1, min(3, os.cpu_count() or 1, len(wanted) or 1))
    _pool = ThreadPoolExecutor(max_workers=workers)
    for doc in wanted:
        _futures.setdefault(doc, _pool.submit(run_file, doc))
    yield _futures
    _pool.shutdown(wait=True, cancel_futures=True)
    _futures.clear()


@pytest.mark.parametrize("doc", DOCS, ids=[_rel(d) for d in DOCS])
def test_doc_code_blocks(doc: Path, doc_runs) -> None:
    future = doc_runs.get(doc) or _pool.submit(run_file, doc)
    failures = future.result()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_docs_exist_and_have_code() -> None:
    names = {p.name for p in DOCS if p.parent.name == "docs"}
    expected = {"index.md", "getting_started.md", "architecture.md", "power_case_study.md",
                "training.md", "custom_devices_and_protocols.md", "troubleshooting.md"}
    assert expected <= names, f"missing docs: {sorted(expected - names)}"
    for name in ("getting_started.md", "architecture.md", "custom_devices_and_protocols.md",
                 "troubleshooting.md", "power_case_study.md"):
        blocks = extract_blocks((ROOT / "docs" / name).read_text(encoding="utf-8"))
        assert any(b.lang == "python" for b in blocks), f"docs/{name} has no python block"


def test_local_links_resolve() -> None:
    """Relative links between the docs point at files that exist."""
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    broken = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        lines = text.splitlines()
        for b in extract_blocks(text):  # code is not markdown: drop fenced blocks
            n = b.source.count("\n") + 2
            lines[b.line - 1:b.line - 1 + n] = [""] * n
        text = re.sub(r"`[^`\n]*`", "", "\n".join(lines))  # and inline code
        for target in link.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{_rel(doc)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_extract_blocks() -> None:
    text = textwrap.dedent("""\
        intro
        ```python
        x = 1
        ```
        1. item

           ```bash
           # doctest: run
           echo hi
           ```
        ````markdown
        ```python
        not a block of its own
        ```
        ````
        ```python
        if x:
            y = 2
        ```
        """)
    blocks = extract_blocks(text)
    assert [(b.lang, b.number, b.line) for b in blocks] == [
        ("python", 1, 2), ("bash", 1, 7), ("markdown", 1, 11), ("python", 2, 16)]
    assert blocks[1].source == "# doctest: run\necho hi\n"
    assert blocks[3].source == "if x:\n    y = 2\n"


# -- the reference tables stay complete --------------------------------------------------
def _doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_every_training_flag_is_documented() -> None:
    from heron.training.cli import build_parser

    text = _doc("training.md")
    flags = sorted({opt for action in build_parser()._actions for opt in action.option_strings
                    if opt.startswith("--") and opt != "--help"})
    missing = [f for f in flags if f"`{f}" not in text and f"{f}`" not in text]
    assert not missing, f"docs/training.md does not document: {missing}"


def test_every_config_key_and_device_is_documented() -> None:
    from powergrid.agents.registry import DEVICE_REGISTRY
    from powergrid.setups.loader import KNOWN_TOP_KEYS

    text = _doc("power_case_study.md")
    missing = [k for k in sorted(KNOWN_TOP_KEYS) if f"`{k}`" not in text]
    missing += [t for t in sorted(DEVICE_REGISTRY) if f"`{t}`" not in text]
    assert not missing, f"docs/power_case_study.md does not document: {missing}"


def test_every_cli_command_is_documented() -> None:
    cli = pytest.importorskip("powergrid.cli")
    text = _doc("getting_started.md")
    missing = [c for c in sorted(cli.main.commands) if f"heron-power {c}" not in text]
    assert not missing, f"docs/getting_started.md does not document: {missing}"


def test_every_file_the_architecture_names_exists() -> None:
    """The package tree and the inline paths of docs/architecture.md name real files."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    tree = re.search(r"```\n(heron/\n.*?)```", text, re.S)
    assert tree, "docs/architecture.md: the package tree block is missing"
    missing, root, folder = [], None, None
    for line in tree.group(1).splitlines():
        head = re.match(r"^(\S+/)$", line)
        if head:
            root = ROOT / head.group(1)
            continue
        entry = re.match(r"^  (\S+/)", line)
        if entry:
            folder = root / entry.group(1)
            if not folder.is_dir():
                missing.append(str(folder.relative_to(ROOT)))
        base = folder if line.startswith("   ") or entry else root
        for name in re.findall(r"\b([a-z_]+\.py)\b", line):
            if not (base / name).is_file():
                missing.append(str((base / name).relative_to(ROOT)))
    for path in re.findall(r"`((?:[\w.]+/)+[\w.]+\.(?:py|md|yml|json))`", text):
        candidates = [ROOT / path, ROOT / "case_studies" / "power" / path]
        if not any(c.is_file() for c in candidates):
            missing.append(path)
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
