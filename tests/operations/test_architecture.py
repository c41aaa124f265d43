"""The shape of app/: no import cycles, infrastructure free of domain code, no oversized module.

The import graph is read from the source with `ast`: module-level and function-level imports
alike (a cycle hidden inside a function is still a cycle)."""

import ast
from pathlib import Path

from tests.fixtures.paths import ROOT

APP = ROOT / "app"

# Modules every domain may use and that use none: settings, the database, errors, time, paging,
# transport limits, jobs, logs and metrics, and personal data's keys and masks.
INFRASTRUCTURE = {
    "app.clock",
    "app.config",
    "app.db",
    "app.errors",
    "app.errors_zh",
    "app.jobs",
    "app.limits",
    "app.logs",
    "app.observability",
    "app.pagination",
    "app.planner",
    "app.privacy.crypto",
    "app.privacy.masking",
    "app.ratelimit",
    "app.timefmt",
    "app.transport",
}
DOMAINS = (
    "app.alerts",
    "app.audit",
    "app.auth",
    "app.console",
    "app.cases",
    "app.demo",
    "app.kiosk",
    "app.notify",
    "app.provincial",
    "app.ratings",
    "app.registry",
    "app.reports",
    "app.stats",
    "app.surveys",
    "app.web",
    "app.workorders",
)
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    found = {}
    for path in APP.rglob("*.py"):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in (`app.x.y.name` -> `app.x.y`)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the app modules it imports, anywhere in its body."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                if target == "app" or target.startswith("app."):
                    found = _resolve(target, modules)
                    if found is not None and found != name:
                        graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "app.workorders.deadlines" in graph  # a module of a package
    assert "app.config" in graph["app.db"]
    # The CLI imports app.main only inside its commands.
    assert "app.main" in graph["app.cli"]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles in app/:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_infrastructure_imports_no_domain():
    graph = import_graph()
    assert INFRASTRUCTURE <= set(graph), INFRASTRUCTURE - set(graph)
    wrong = sorted(
        f"{module} imports {target}"
        for module in INFRASTRUCTURE
        for target in graph[module]
        if target.startswith(DOMAINS) or target in {"app.main", "app.cli"}
    )
    assert not wrong, "infrastructure importing domain code:\n" + "\n".join(wrong)


def test_no_module_over_the_limit():
    oversized = sorted(
        f"{name}: {lines} lines"
        for name, path in _modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert not oversized, f"modules over {MAX_LINES} lines:\n" + "\n".join(oversized)


def test_settings_are_read_only_by_the_entry_points():
    """get_settings() or a bare SomethingSettings() reads the environment: only the CLI, the
    server's factory and the settings module itself do; everyone else is given them."""
    readers = set()
    for name, path in _modules().items():
        if name in {"app.config", "app.cli", "app.main"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
            )
            bare = not node.args and not node.keywords
            if called == "get_settings" or (called.endswith("Settings") and bare):
                readers.add(f"{name}:{node.lineno}")
    assert not readers, "settings read from the environment:\n" + "\n".join(sorted(readers))
