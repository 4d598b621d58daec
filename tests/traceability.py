"""Reads the project's requirement list and finds which tests carry which ``req`` IDs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "docs" / "requirements.md"
UPSTREAM_SPEC = ROOT.parent / "shared" / "spec.md"
_ROW = re.compile(r"^\|\s*((?:N?FR)-\d{3})\s*\|\s*(\w+)\s*\|", re.M)


def known_requirements() -> dict[str, str]:
    """ID → status (``implemented`` or ``planned``)."""
    return dict(_ROW.findall(REQUIREMENTS.read_text(encoding="utf-8")))


def spec_requirements(spec: Path) -> set[str]:
    return set(re.findall(r"^\|\s*((?:N?FR)-\d{3})\s*\|", spec.read_text(encoding="utf-8"), re.M))


def _req_ids(decorator: ast.expr) -> list[str]:
    """IDs of a ``pytest.mark.req(...)`` decorator (or a ``pytestmark`` entry)."""
    if (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "req"
    ):
        return [a.value for a in decorator.args if isinstance(a, ast.Constant)
                and isinstance(a.value, str)]
    return []


def ids_under_test(tests_dir: Path = ROOT / "tests") -> dict[str, list[str]]:
    """ID → test functions (``file::name``) that carry it, found statically in test modules."""
    found: dict[str, list[str]] = {}
    for path in sorted(tests_dir.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(tests_dir.parent).as_posix()
        module_ids: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
            ):
                values = node.value.elts if isinstance(node.value, ast.List) else [node.value]
                for v in values:
                    module_ids += _req_ids(v)
        for sub in ast.walk(tree):
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                ids = [i for d in sub.decorator_list for i in _req_ids(d)]
                if sub.name.startswith(("test_", "Test")):
                    for i in [*ids, *module_ids]:
                        found.setdefault(i, []).append(f"{rel}::{sub.name}")
    return found
