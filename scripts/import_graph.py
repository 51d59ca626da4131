"""The kit's dependency picture: which module of `autograder` imports which, by side.

    python scripts/import_graph.py            # the arrows between sides, and any violation
    python scripts/import_graph.py --dot      # every module-to-module arrow, as Graphviz DOT

The package is grouped by side, from the bottom up (`LAYERS`): a module may import its own side
and the sides below it, never one above; the imports have no circle; and a package's
`__init__.py` is its face (a docstring and the names it re-exports), not its code. Imports inside
functions count as arrows too (they only defer the cost, not the dependency), except those under
`if TYPE_CHECKING:`. `tests/kit/test_layers.py` fails on any violation this prints.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "autograder"
# From the bottom up; the top-level modules that hidden tests and the CLI use sit by role.
LAYERS = [
    ["core"],
    ["testing"],  # what hidden tests use; the sandbox applies their NumPy and warnings context
    ["sandbox"],
    ["intake"],
    ["records"],
    ["judging"],
    ["pytest_plugin"],  # pytest's face on the judge: the judge never imports it
    ["authoring", "validate"],
    ["exports", "distributed", "review"],
    ["cli", "__main__"],
]
FACE_LINES = 40  # the most an __init__.py may hold, docstring and re-exports included


def side_of(module: str) -> str:
    """`autograder.sandbox.worker` -> "sandbox"; `autograder.cli` -> "cli"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(side: str) -> int:
    for index, sides in enumerate(LAYERS):
        if side in sides:
            return index
    return -1


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The kit's modules that module `name` imports (the deepest known module of each import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
            # `from package import module` imports the module; a name from the package's face
            # is an arrow to the face
            targets = names + ([base] if any(name not in known for name in names) else [])
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith(PACKAGE + "."):
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every circle of imports, each once (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
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
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def violations() -> list[str]:
    """One line for each circle, each arrow from a lower side to a higher one, each face that
    holds code."""
    edges = graph()
    lines = [f"circle: {' -> '.join(cycle)}" for cycle in cycles(edges)]
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            here, there = side_of(source), side_of(target)
            if here == "__init__" or there == "__init__":
                continue
            if layer_of(there) > layer_of(here):
                lines.append(f"upward: {source} ({here}) imports {target} ({there})")
    for path in modules().values():
        if path.name == "__init__.py":
            count = len(path.read_text(encoding="utf-8").splitlines())
            if count > FACE_LINES:
                lines.append(f"face: {path.relative_to(ROOT)} has {count} lines (at most "
                             f"{FACE_LINES}: a docstring and re-exports)")  # fmt: skip
    unplaced = sorted({side_of(name) for name in edges} - {side for layer in LAYERS
                                                           for side in layer} - {"__init__"})
    lines += [f"unplaced: the side {side} is in no layer" for side in unplaced]
    return lines


def main(argv: list[str]) -> int:
    edges = graph()
    if "--dot" in argv:
        print("digraph autograder {\n  rankdir=BT;")
        for source, targets in sorted(edges.items()):
            for target in sorted(targets):
                print(f'  "{source}" -> "{target}";')
        print("}")
        return 0
    sides: dict[tuple[str, str], int] = defaultdict(int)
    for source, targets in edges.items():
        for target in targets:
            if side_of(source) != side_of(target):
                sides[(side_of(source), side_of(target))] += 1
    for layer in reversed(LAYERS):
        for side in layer:
            arrows = [f"{there} ({count})" for (here, there), count in sorted(sides.items())
                      if here == side]  # fmt: skip
            if arrows:
                print(f"{side:>14} -> {', '.join(arrows)}")
    problems = violations()
    print("\n".join(problems) if problems else "no circle, no upward arrow, every face lean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
