"""CLI: ``python -m heron.scaffold --name my_case_study --domain mydomain [--dest DIR]``."""

from __future__ import annotations

import argparse
import sys

from heron.scaffold import ScaffoldError, create_project


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
    print(f"Created {root}\n\nNext:\n  cd {root}\n  pip install -e . --no-build-isolation"
          "   # or: export PYTHONPATH=.\n  python examples/run_example.py\n"
          "  python -m pytest tests -q")
    return 0


if __name__ == "__main__":
    sys.exit(main())
