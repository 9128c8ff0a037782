"""An import-linter contract of our own: no module imports a name another module keeps
private (a name with one leading underscore). Run by ``make lint`` with the contracts in
``.importlinter``; see docs/architecture.md.

A private name is the module's own business: a caller that needs it is asking for a
public function, or for the code to move to where the caller can own it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from importlinter import Contract, ContractCheck, fields, output


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` names, with relative imports resolved."""
    if not node.level:
        return node.module or ""
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _source(module: str) -> Path | None:
    """The module's file, found from the working directory (the repository's root) without
    importing anything (importing an app's package would need Django's settings)."""
    base = Path(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


class PrivateNamesContract(Contract):
    type_name = "private names"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        roots = tuple(self.containers)
        violations = []
        for module in sorted(graph.modules):
            if not module.startswith(roots):
                continue
            path = _source(module)
            if path is None:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            is_package = path.name == "__init__.py"
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom):
                    continue
                source = _absolute(module, is_package, node)
                if source == module or not source.startswith(roots):
                    continue
                for alias in node.names:
                    if _is_private(alias.name):
                        violations.append(f"{module}:{node.lineno} imports {alias.name} from {source}")
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            output.print_error(violation, bold=False)
            output.new_line()
