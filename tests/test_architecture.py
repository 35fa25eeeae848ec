"""The house's shape, checked: no import circles, and no package importing one above it.

Every import of every module counts, also one inside a function (a circle hidden in a function is
still a circle: the two modules cannot be read, tested or changed apart); only imports under
``if TYPE_CHECKING:`` are left out, as they never run. The layers below are the table of contents
of the service, from the ground up: a module may import its own layer and those under it.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

import mailflow

PACKAGE = Path(mailflow.__file__).parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "clock", "replies", "budget", "columns", "metrics", "crypt", "mime"),
    ("config", "model", "database", "policy"),
    ("auth", "parse", "migrations"),
    ("case", "thread", "notices", "outbound", "inbound", "runtime_types"),
    ("drafting", "record"),
    ("records",),
    ("committee",),
    ("route",),
    ("pipeline", "services", "actors"),
    ("runtime", "sweep", "health", "exporter", "backup", "rekey"),
    ("imports", "handoff", "embedded", "worker"),
    ("service",),
    ("cli", "__main__"),
)
"""Each top-level module or package of ``mailflow``, by floor. (``runtime_types`` and ``services``
are named ahead of the modules they may become; a name here that does not exist is fine.)"""


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: Collection[str]) -> Iterator[str]:
    """Every module name imported (absolute), skipping ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import sub" imports the module pkg.sub (the package's face only on the way)
            named = [f"{base}.{alias.name}" for alias in node.names]
            submodules = [n for n in named if n in known]
            yield from submodules or [base]
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = _imports(tree, name, path.name == "__init__.py", modules)
        targets = {t for t in imported if t in modules and t != name}
        graph[name] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _floor(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else "__init__"
    for number, names in enumerate(LAYERS):
        if top in names:
            return number
    return None


def test_no_module_imports_itself_back_through_others() -> None:
    circles = _circles(_graph())
    assert not circles, "import circles (each a set of modules importing one another):\n" + "\n".join(
        " <-> ".join(c) for c in circles
    )


def test_every_package_has_a_floor_and_imports_only_its_own_and_those_below() -> None:
    graph = _graph()
    unplaced = sorted({m.split(".")[1] for m in graph if "." in m and _floor(m) is None})
    assert not unplaced, f"top-level modules with no floor in LAYERS: {unplaced}"
    upward = [
        f"{module} (floor {_floor(module)}) imports {target} (floor {_floor(target)})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if "." in module and "." in target and (_floor(target) or 0) > (_floor(module) or 0)
    ]
    assert not upward, "imports that point up a floor:\n" + "\n".join(upward)


def test_the_check_sees_a_circle_and_an_upward_import() -> None:
    # the checks themselves, on a small graph made up for them
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
    assert _floor("mailflow.cli.views") > _floor("mailflow.case.views")  # type: ignore[operator]
