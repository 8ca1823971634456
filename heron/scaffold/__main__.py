"""CLI: ``python -m heron.scaffold --name my_case_study --domain mydomain [--dest DIR]``."""

from __future__ import annotations

import argparse
import sys

from heron.scaffold import ScaffoldError, create_project, installed_elsewhere


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m heron.scaffold",
        description="Create a new HERON case study that runs and passes its tests.",
    )
    parser.add_argument("--name", required=True, help="project directory name (identifier)")
    parser.add_argument("--domain", required=True, help="package name inside it (identifier)")
    parser.add_argument("--dest", default=".", help="where to create NAME/ (default: .)")
    args = parser.parse_args(argv)
    try:
        root = create_project(args.name, args.domain, args.dest)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    other = installed_elsewhere(args.domain, root)
    install = "" if other else "  pip install -e . --no-build-isolation   # optional\n"
    print(f"Created {root}\n\nNext:\n  cd {root}\n{install}"
          "  python examples/run_example.py\n  python -m pytest -q")
    if other:
        print(f"\nNote: a package named {args.domain!r} is already installed here ({other}).\n"
              f"Run the project from its root: its tests (conftest.py) and example put it\n"
              f"first on sys.path, so its own {args.domain} package shadows the installed\n"
              f"one, and tests/test_package.py fails if a module it lacks comes from there.\n"
              f"Do not pip install it into this environment (two packages cannot share a\n"
              f"name), or choose another DOMAIN, e.g. DOMAIN=my_{args.domain}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
