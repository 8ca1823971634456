"""Project scaffolding: ``python -m heron.scaffold --name NAME --domain DOMAIN``.

A new case study should start from something that already runs and passes its
tests, so that every later failure is the user's latest change and not the
template. The generated project depends on ``heron`` alone: ``DOMAIN`` is only the
name of the generated package, even when it is ``powergrid``.

A ``DOMAIN`` that names an installed package (``powergrid`` ships with heron-marl)
is allowed, because the user guide does exactly that: the generated tests
(``conftest.py``) and example put the project root first on ``sys.path``, so the
project's own regular package shadows the installed one, and
``tests/test_package.py`` fails if a module the project lacks was filled in from the
installed package. :func:`installed_elsewhere` tells the CLI to say so.

Templates are ``*.tmpl`` files in :mod:`heron.scaffold.templates` rendered with
:class:`string.Template` (``${domain}`` etc.), because Python code is full of
braces that ``str.format`` would trip over.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import sys
from importlib import resources
from pathlib import Path
from string import Template

__all__ = ["ScaffoldError", "create_project", "installed_elsewhere", "render",
           "validate_identifier", "FILES"]

#: template file -> output path (``{domain}`` is replaced by the package name).
FILES: dict[str, str] = {
    "package_init.py.tmpl": "{domain}/__init__.py",
    "agents_init.py.tmpl": "{domain}/agents/__init__.py",
    "agents_example.py.tmpl": "{domain}/agents/example.py",
    "envs_init.py.tmpl": "{domain}/envs/__init__.py",
    "envs_example_env.py.tmpl": "{domain}/envs/example_env.py",
    "utils_init.py.tmpl": "{domain}/utils/__init__.py",
    "run_example.py.tmpl": "examples/run_example.py",
    "test_env.py.tmpl": "tests/test_env.py",
    "test_package.py.tmpl": "tests/test_package.py",
    "conftest.py.tmpl": "conftest.py",
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
}

#: Package names the generated project must not take: importing them would pick the
#: wrong module (the framework itself, or what the generated code imports).
RESERVED = {"heron", "numpy", "gymnasium", "pettingzoo", "pytest", "tests", "examples"}


class ScaffoldError(ValueError):
    """Invalid arguments or a destination that already exists."""


def _suggest(value: str) -> str:
    fixed = re.sub(r"\W+", "_", value).strip("_").lower() or "my_project"
    if fixed[0].isdigit():
        fixed = f"project_{fixed}"
    if keyword.iskeyword(fixed) or fixed in RESERVED or fixed in sys.stdlib_module_names:
        fixed = f"{fixed}_case"
    return fixed


def validate_identifier(value: str, what: str) -> str:
    """Check that ``value`` can name a Python package; the error proposes a fix."""
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise ScaffoldError(
            f"{what} {value!r} is not a valid Python identifier (letters, digits and "
            f"underscores, not starting with a digit, not a keyword). "
            f"Try {what}={_suggest(str(value))}."
        )
    return value


def _check_domain(domain: str) -> str:
    validate_identifier(domain, "DOMAIN")
    if domain in RESERVED or domain in sys.stdlib_module_names:
        what = "standard-library module" if domain in sys.stdlib_module_names else "package"
        raise ScaffoldError(
            f"DOMAIN {domain!r} would shadow the {what} {domain!r} when imported. "
            f"Try DOMAIN={domain}_case."
        )
    return domain


def installed_elsewhere(domain: str, root: str | Path | None = None) -> str | None:
    """Where an importable package named ``domain`` lives, if not inside ``root``.

    Only looks (``find_spec`` on a top-level name imports nothing).
    """
    try:
        spec = importlib.util.find_spec(domain)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a package: its directory
        where = Path(next(iter(spec.submodule_search_locations)))
    elif spec.origin and spec.has_location:  # a module file
        where = Path(spec.origin)
    else:  # built-in or frozen
        return spec.origin or domain
    if root is not None and where.resolve().is_relative_to(Path(root).resolve()):
        return None
    return str(where)


def _camel(domain: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in domain.split("_") if part)


def render(template: str, name: str, domain: str) -> str:
    """Render one template file; missing placeholders raise (a template bug)."""
    text = (resources.files("heron.scaffold") / "templates" / template).read_text("utf-8")
    return Template(text).substitute(
        name=name,
        domain=domain,
        dist_name=name.replace("_", "-"),
        env_class=f"{_camel(domain) or 'Domain'}Env",
    )


def create_project(name: str, domain: str, dest: str | Path = ".") -> Path:
    """Generate the project ``dest/name`` and return its path.

    Refuses to touch an existing path: a half-overwritten project is worse than an
    error, and there is no safe way to merge generated code into edited code.
    """
    validate_identifier(name, "NAME")
    _check_domain(domain)
    root = Path(dest).expanduser().resolve() / name
    if root.exists():
        raise ScaffoldError(
            f"{root} already exists; refusing to overwrite it. Choose another NAME, "
            "another --dest, or remove the directory first."
        )
    rendered = {out.format(domain=domain): render(tmpl, name, domain) for tmpl, out in FILES.items()}
    for rel, text in rendered.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
