"""The import graph points one way: returns -> fulfillment -> orders -> {customers, payments,
inventory} -> stores, all may use common, common uses none of the apps, and config sits on
top (it imports the apps; nothing imports it). No module imports itself round a circle.

Every import counts, also one inside a function (a lazy import is still a dependency) and a
relative one. A lower app that must let a higher one react sends a signal; the higher app
connects its handlers in its own AppConfig.ready().
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each app with the apps it may import (common is open to all, and each app to itself).
MAY_IMPORT = {
    "common": set(),
    "stores": set(),
    "inventory": {"stores"},
    "customers": {"stores"},
    "payments": {"stores"},
    "orders": {"customers", "payments", "inventory", "stores"},
    "fulfillment": {"orders", "customers", "payments", "inventory", "stores"},
    "returns": {"fulfillment", "orders", "customers", "payments", "inventory", "stores"},
    "config": {"returns", "fulfillment", "orders", "customers", "payments", "inventory", "stores"},
}
APPS = sorted(MAY_IMPORT)


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path, apps) -> dict[str, Path]:
    """The project's modules by dotted name (migrations aside: they only record history)."""
    return {
        _module_name(path, root): path
        for app in apps
        for path in (root / app).rglob("*.py")
        if "migrations" not in path.relative_to(root).parts
    }


def _imported(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> list[str]:
    """The dotted names `node` imports; for `from a import b`, a.b (a module, or a name in a)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{alias.name}" for alias in node.names]


def import_graph(root: Path = ROOT, apps=APPS) -> dict[str, set[str]]:
    """Each project module with the project modules it imports anywhere in its body."""
    modules = _modules(root, apps)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, module, path):
                    while name and name not in modules:  # a name defined in a module
                        name = name.rpartition(".")[0]
                    if name:
                        targets.add(name)
        targets.discard(module)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import one another round a circle (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def wrong_way(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Each module with the imports that go up a layer (or into config, or a lower app's
    into a higher one)."""
    wrong = {}
    for module, targets in graph.items():
        app = module.split(".")[0]
        allowed = {app, "common", *MAY_IMPORT[app]}
        if bad := sorted(target for target in targets if target.split(".")[0] not in allowed):
            wrong[module] = bad
    return wrong


def test_no_module_imports_itself_round_a_circle():
    assert circles(import_graph()) == []


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_apps_below_it_and_never_config(app):
    graph = import_graph()
    assert {m: bad for m, bad in wrong_way(graph).items() if m.split(".")[0] == app} == {}


def test_the_walk_reads_every_app():
    assert {module.split(".")[0] for module in import_graph()} == set(APPS)


# --- the checks catch what they are for (on a tree of their own) ----------------------------


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_circle_through_a_lazy_and_a_relative_import_is_found(tmp_path):
    _tree(tmp_path, {
        "orders/__init__.py": "",
        "orders/models.py": "def total():\n    from orders.services import price\n",
        "orders/services/__init__.py": "from .pricing import price\n",
        "orders/services/pricing.py": "from ..models import total\n",
        "orders/views.py": "from orders import models\n",
    })  # fmt: skip

    found = circles(import_graph(tmp_path, ["orders"]))

    assert found == [["orders.models", "orders.services", "orders.services.pricing"]]


def test_an_import_up_a_layer_or_into_config_is_found(tmp_path):
    _tree(tmp_path, {
        "common/__init__.py": "",
        "common/outbox.py": "def sweep():\n    import orders.tasks\n",
        "inventory/__init__.py": "",
        "inventory/services.py": "from stores.models import Location\nfrom config import celery\n",
        "stores/__init__.py": "",
        "stores/models.py": "",
        "orders/__init__.py": "",
        "orders/tasks.py": "from inventory.services import x\n",
        "config/__init__.py": "",
        "config/celery.py": "from orders import tasks\n",
    })  # fmt: skip

    graph = import_graph(tmp_path, ["common", "inventory", "stores", "orders", "config"])

    assert wrong_way(graph) == {
        "common.outbox": ["orders.tasks"],
        "inventory.services": ["config.celery"],
    }
