"""Dependencies point one way: portal → billing → privacy → accounts → core (docs/architecture.md).

Read from the source (every import, including those inside functions), so a lazy import
cannot hide a dependency that points up.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Top to bottom: each may import those after it, never those before it.
LAYERS = ("portal", "billing", "privacy", "accounts", "core")
APPS = LAYERS[:-1]


def imported_modules(path: Path) -> set[str]:
    """Every module named by an import (``from a import b`` names ``a`` and, if it is one, ``a.b``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of_package(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): imported_modules(path)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


@pytest.mark.parametrize("package", LAYERS)
def test_each_package_imports_only_the_layers_below_it(package):
    below = set(LAYERS[LAYERS.index(package) + 1 :])
    above = set(LAYERS) - below - {package}
    offending = {
        path: sorted(m for m in modules if top_level(m) in above)
        for path, modules in imports_of_package(package).items()
        if any(top_level(m) in above for m in modules)
    }
    assert offending == {}


def test_importing_core_loads_no_app():
    """Not even indirectly: a fresh interpreter that imports every core module has no app loaded."""
    modules = sorted(
        "core" if path.name == "__init__.py" else f"core.{path.stem}" for path in (ROOT / "core").glob("*.py")
    )
    code = (
        f"import importlib, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({APPS!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["core", "accounts"])
def test_no_import_cycle_inside(package):
    """Within a package too, modules import downwards only: the gateway queues delivery through
    ``accounts.tasks``, whose tasks call ``delivery``, which imports neither of them."""
    paths = [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts and "__pycache__" not in p.parts]
    modules = {module_name(p): p for p in paths}
    graph = {name: imported_modules(path) & (modules.keys() - {name}) for name, path in modules.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle in {package}: {' -> '.join(cycle.args[1])}")


def test_migrations_import_no_application_code():
    """A migration must do the same whatever the application's code says later, so it writes
    out what it does. The one exception is what Django itself writes into schema migrations:
    references to a model module's validators and managers (``accounts.models.validate_currency``),
    which are part of the model's state (copying them, makemigrations would see a change)."""
    offending = {}
    for app in APPS:
        for path in sorted((ROOT / app / "migrations").glob("[0-9]*.py")):
            ours = {m for m in imported_modules(path) if top_level(m) in (*APPS, "core")}
            if ours - {f"{label}.models" for label in APPS}:
                offending[str(path.relative_to(ROOT))] = sorted(ours)
    assert offending == {}
