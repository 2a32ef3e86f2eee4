"""Unit (no database): where the environment is read and which way imports go.

- The environment is read only in wapipe/settings.py; every other module gets its
  settings passed down (tests and benches may read it: they are not scanned).
- Every variable settings.py reads is in a table of README.md.
- Imports go downwards: worker/ and ingress/ never import each other, and the shared
  package wapipe/ imports neither, except the entry points listed in ALLOWED_UPWARD.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("wapipe", "worker", "ingress")
SETTINGS = "wapipe/settings.py"
ENV_ATTRIBUTES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
# The only imports that go up from the shared package: the CLI starts the worker and
# the ingress (and checks the ingress's start-up settings before uvicorn forks).
ALLOWED_UPWARD = {
    ("wapipe.cli", "worker.main"),
    ("wapipe.cli", "ingress.app"),
}
VARIABLE = re.compile(
    r"(WAPIPE|WHATSAPP)_[A-Z0-9_]+|DATABASE_URL|NO_COLOR|PROMETHEUS_MULTIPROC_DIR"
)


def _sources() -> dict[str, Path]:
    """Module name -> file, for every module of the three packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def environment_reads(source: str) -> list[int]:
    """Lines that touch os.environ / os.getenv (however os was imported)."""
    tree = ast.parse(source)
    os_names = {"os"}
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ENV_ATTRIBUTES for a in node.names)
        ):
            lines.append(node.lineno)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_ATTRIBUTES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            lines.append(node.lineno)
    return sorted(lines)


def imported_modules(source: str, module: str) -> set[str]:
    """Every module `module` imports (absolute names; relative ones resolved)."""
    imported: set[str] = set()
    package = module.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level], *([base] if base else [])])
            imported.add(base)
            imported |= {f"{base}.{a.name}" for a in node.names}
    return imported


def upward_imports(module: str, imported: set[str]) -> set[str]:
    """The imports of `module` that break the layering."""
    top = module.split(".")[0]
    forbidden = {"worker": {"ingress"}, "ingress": {"worker"}, "wapipe": {"worker", "ingress"}}
    return {
        name
        for name in imported
        if name.split(".")[0] in forbidden[top]
        and name.split(".")[0] != top
        and not any(
            module == allowed and (name == target or name.startswith(target + "."))
            for allowed, target in ALLOWED_UPWARD
        )
        # `from worker import main` lists both "worker" and "worker.main": judge the latter
        and not any(other.startswith(name + ".") for other in imported)
    }


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        f"{path.relative_to(ROOT)}:{line}"
        for path in _sources().values()
        for line in environment_reads(path.read_text())
        if path.relative_to(ROOT).as_posix() != SETTINGS
    }
    assert readers == set(), "read the variable in wapipe/settings.py and pass it down"
    assert environment_reads((ROOT / SETTINGS).read_text()), "settings.py is the reader"


def test_imports_only_go_downwards() -> None:
    broken = {
        f"{module} imports {name}"
        for module, path in _sources().items()
        for name in upward_imports(module, imported_modules(path.read_text(), module))
    }
    assert broken == set()


def test_every_allowed_upward_import_is_still_used() -> None:
    sources = _sources()
    for module, target in ALLOWED_UPWARD:
        assert target in imported_modules(sources[module].read_text(), module), (
            f"{module} no longer imports {target}: drop the exception"
        )


def test_every_setting_is_in_the_readme() -> None:
    constants = {
        node.value
        for node in ast.walk(ast.parse((ROOT / SETTINGS).read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    variables = {c for c in constants if VARIABLE.fullmatch(c)}
    assert len(variables) > 30
    table_rows = "\n".join(
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")
    )
    missing = sorted(v for v in variables if f"`{v}`" not in table_rows)
    assert missing == [], "add a row to README.md, Configuration"


def test_the_checks_catch_what_they_are_for() -> None:
    reads = "import os as o\nfrom os import getenv\nx = o.environ['A']\ny = o.path.join('a')\n"
    assert environment_reads(reads) == [2, 3]
    assert environment_reads("environ = {}\nenviron.get('A')\n") == []
    up = imported_modules("from worker.config import load_config\nimport ingress.app\n", "wapipe.x")
    assert upward_imports("wapipe.x", up) == {"worker.config.load_config", "ingress.app"}
    allowed = "from worker import main\nfrom ingress.app import check_startup_settings\n"
    assert upward_imports("wapipe.cli", imported_modules(allowed, "wapipe.cli")) == set()
    sideways = imported_modules("from ..ingress import app\n", "worker.x")
    assert upward_imports("worker.x", sideways) == {"ingress.app"}
