"""The package's import structure, read from the code (an AST walk over faceauth/, imports inside
functions included: they run on every call): no module imports itself back through others, and no
layer imports one above it. The order of the layers is written down here once; docs/architecture.md
describes it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "faceauth"

# Lowest first. A module belongs to the layer of the longest prefix of its dotted name that is listed
# ("faceauth" itself: the package's __init__ only); it may import its own layer and those below.
LAYERS = [
    ("io", ["faceauth", "faceauth.io"]),
    ("training", ["faceauth.training"]),
    ("evaluation", ["faceauth.evaluation"]),
    ("tasks", ["faceauth.tasks"]),
    # What a search's results are made of and how they are written: the space, the trial records and
    # the best trial's files, the Pareto front, the report and its plots (training runs use them too).
    ("results", ["faceauth.tuning.report", "faceauth.tuning.space", "faceauth.tuning.objectives",
                 "faceauth.tuning.front", "faceauth.tuning.measure", "faceauth.tuning.best"]),
    ("workflows", ["faceauth.workflows"]),
    ("search", ["faceauth.tuning"]),
    ("commands", ["faceauth.commands", "faceauth.tune", "faceauth.train", "faceauth.evaluate", "faceauth.export",
                  "faceauth.embed", "faceauth.datasets", "faceauth.api", "faceauth.__main__"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The faceauth modules `path` imports, anywhere in it; `from pkg import name` counts the module
    pkg.name where it is one, else pkg."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found)) - {name} for name, path in found.items()}


def layer_of(module: str) -> int:
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "faceauth" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return best[0]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back():
    assert circles(graph()) == []


def test_no_layer_imports_one_above_it():
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in graph().items() for b in sorted(targets) if layer_of(b) > layer_of(a)]
    assert upward == []


def test_the_walk_sees_imports_inside_functions():
    edges = graph()
    assert "faceauth.workflows.train" in edges["faceauth.workflows.protocols"]  # imported inside a function
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_api_and_the_workflows_build_no_parser():
    """faceauth.api and the workflows (faceauth.workflows, the search's faceauth.tuning.search) take typed
    requests: they import no argparse and no command module, so nothing a command parses stands between
    a caller and a workflow."""
    commands = {"faceauth.tune", "faceauth.train", "faceauth.evaluate", "faceauth.export", "faceauth.embed",
                "faceauth.datasets", "faceauth.commands.cli", "faceauth.commands.main"}
    found = modules()
    edges = graph()
    checked = [m for m in found if m == "faceauth.api" or m.startswith("faceauth.workflows") or m == "faceauth.tuning.search"]
    assert "faceauth.tuning.search" in checked and "faceauth.workflows.evaluate" in checked
    for module in checked:
        tree = ast.parse(found[module].read_text())
        argparse_imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import) and any(a.name == "argparse" for a in n.names)]
        assert not argparse_imports, f"{module} imports argparse"
        assert not edges[module] & commands, f"{module} imports {sorted(edges[module] & commands)}"
