"""The packages' import graph, read from the source (every import statement, at module level or
inside a function): no circle of modules, and the deploy loop takes nothing from the trainer."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mjx_env", "bridge", "policy", "ppo", "bc", "deploy", "perception", "cmdline",
            "tools", "benchmarks")


def _modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the packages (a package is its __init__)."""
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imported(path: Path, name: str, modules) -> set[str]:
    """The project modules `path` (module `name`) imports: each import resolved to the longest
    dotted prefix that is a module (`from bridge import chunk_cache` -> bridge.chunk_cache,
    `from bridge.base import make_base` -> bridge.base)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            hit = next((".".join(parts[:i]) for i in range(len(parts), 0, -1)
                        if ".".join(parts[:i]) in modules), None)
            if hit and hit != name:
                found.add(hit)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(path, name, modules) for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    """The reader finds imports of each form (absolute, from-package, inside a function)."""
    graph = _graph()
    assert "ppo.checkpoint" in graph["ppo.evaluate_cli"]  # from ppo import checkpoint, export
    assert "bridge.base" in graph["ppo.evaluate_cli"]  # from bridge.base import ...
    assert "bridge.torch_base" in graph["bridge.kinds.kind"]  # imported inside a method
    assert "ppo.evaluate_cli" in graph["ppo.evaluate.__main__"]


def test_no_import_circle():
    assert _circles(_graph()) == []


def test_deploy_takes_nothing_from_the_trainer():
    graph = _graph()
    bad = {m: sorted(t for t in targets if t.split(".")[0] == "ppo")
           for m, targets in graph.items() if m.split(".")[0] == "deploy"}
    assert {m: t for m, t in bad.items() if t} == {}
