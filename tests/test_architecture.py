"""The shape of the code (docs/architecture.md): no import cycle between the project's modules,
and the apps depend on each other in one direction only.

`accounts` ← `projects` ← `privacy_requests`: a lower app never imports a higher one. `config`
wires the apps together and the dev-only `benchmarks` may import any of them; no app imports
`benchmarks`, which is not installed. The config modules the apps use (the job queue, child
processes, the operator commands' arguments) import no app. Every import counts, at module
level or inside a function: a function-level import hides a cycle, it does not remove it.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "projects", "privacy_requests")
PACKAGES = (*APPS, "config", "benchmarks")
# What each top-level package must never import.
FORBIDDEN = {
    "accounts": {"projects", "privacy_requests", "benchmarks"},
    "projects": {"privacy_requests", "benchmarks"},
    "privacy_requests": {"benchmarks"},
    "config": {"benchmarks"},
}
# A module of the apps longer than this says at its top why it is not split.
MAX_MODULE_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            modules[_module_name(path)] = path
    return modules


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules that `path` (module `name`) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; `from module import name`,
            # the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # The longest project module the import names (an attribute path falls back).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _project_modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_apps_import_only_downwards():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], ())
    )
    assert wrong == []


def test_config_modules_the_apps_use_import_no_app():
    graph = _graph()
    used = {
        target
        for module, targets in graph.items()
        if module.split(".")[0] in APPS
        for target in targets
        if target.split(".")[0] == "config"
    }
    assert used, "the apps use config's job queue at least"
    wrong = sorted(
        f"{module} imports {target}"
        for module in used
        for target in graph[module]
        if target.split(".")[0] in APPS
    )
    assert wrong == []


def test_long_modules_say_why():
    unexplained = []
    for name, path in _project_modules().items():
        if name.startswith(("config.settings", "benchmarks")):
            continue
        lines = path.read_text().splitlines()
        if len(lines) > MAX_MODULE_LINES and not any(
            line.startswith("# Long:") for line in lines[:5]
        ):
            unexplained.append(f"{name} ({len(lines)} lines)")
    assert unexplained == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import projects.models", {"projects.models"}),
        ("from projects import models", {"projects.models"}),
        ("from projects.models import Project", {"projects.models"}),
        ("def f():\n    from privacy_requests.models import Status", {"privacy_requests.models"}),
        ("from . import models", {"projects.models"}),
        ("from .models import Project", {"projects.models"}),
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path, source, expected):
    # The check is only as good as its parser: each form of import is an edge.
    path = tmp_path / "views.py"
    path.write_text(source)
    modules = {"projects": Path(), "projects.models": Path(), "privacy_requests.models": Path()}
    assert _imports(path, "projects.views", modules) == expected


def test_the_check_finds_a_cycle():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]
