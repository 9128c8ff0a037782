"""Dependencies point one way: portal → billing → privacy → accounts → core (docs/architecture.md).

Read from the source (every import, including those inside functions), so a lazy import
cannot hide a dependency that points up.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("portal", "billing", "privacy", "accounts")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def imports_of_package(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): imported_modules(path)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


def test_core_imports_no_app():
    offending = {
        path: sorted(m for m in modules if top_level(m) in APPS)
        for path, modules in imports_of_package("core").items()
        if any(top_level(m) in APPS for m in modules)
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


def test_accounts_does_not_import_privacy():
    offending = {
        path: sorted(m for m in modules if top_level(m) == "privacy")
        for path, modules in imports_of_package("accounts").items()
        if any(top_level(m) == "privacy" for m in modules)
    }
    assert offending == {}
