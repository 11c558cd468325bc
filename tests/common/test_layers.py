"""The import graph points one way: returns -> fulfillment -> orders -> {customers, payments,
inventory} -> stores, all may use common, and nothing imports config (it sits on top)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each app with the apps it may import (common is open to all).
MAY_IMPORT = {
    "common": set(),
    "stores": set(),
    "inventory": {"stores"},
    "customers": {"stores"},
    "payments": {"stores"},
    "orders": {"customers", "payments", "inventory", "stores"},
    "fulfillment": {"orders", "customers", "payments", "inventory", "stores"},
    "returns": {"fulfillment", "orders", "customers", "payments", "inventory", "stores"},
}
PROJECT = {*MAY_IMPORT, "config"}


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & PROJECT


def _modules(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app", sorted(MAY_IMPORT))
def test_an_app_imports_only_the_apps_below_it_and_never_config(app):
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported - MAY_IMPORT[app] - {app, "common"})
        for path in _modules(app)
        if (imported := _imported_apps(path)) - MAY_IMPORT[app] - {app, "common"}
    }
    assert wrong == {}
