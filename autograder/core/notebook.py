"""Read notebooks and check that they are notebooks we can grade.

Every failure is a `NotebookError` whose message is one line a student or TA can act on.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.core.errors import UserError

# The notebook metadata key under which a release records its lab (and the solution its inputs).
KIT_METADATA = "course_kit"
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
MAX_CELLS = 2000
MAX_DEPTH = 64  # a real notebook is a handful of levels deep (cells > metadata > widgets ...)


class NotebookError(UserError):
    """A file that cannot be used as a notebook, described in one line."""


def read_notebook(
    path: str | Path, max_bytes: int = MAX_NOTEBOOK_BYTES, warnings_out: list[str] | None = None
) -> NotebookNode:
    """Read `path` as an nbformat 4 notebook (older formats are upgraded) and validate it.

    nbformat's warnings never reach the terminal: they are caught, and put in `warnings_out`
    (one short line each) when given."""
    path = Path(path)
    if not path.exists():
        raise NotebookError(f"{path}: no such file")
    if not path.is_file():
        raise NotebookError(f"{path}: is a folder, not a notebook file")
    size = path.stat().st_size
    if size == 0:
        raise NotebookError(f"{path.name}: the file is empty; submit the saved .ipynb notebook")
    if size > max_bytes:
        raise NotebookError(
            f"{path.name}: {size / 2**20:.0f} MB is over the {max_bytes / 2**20:.0f} MB limit; "
            "clear the outputs (Edit > Clear All Outputs) and submit again"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name}: not a notebook (the file is not UTF-8 text)") from None
    return parse_notebook(text, path.name, warnings_out)


def parse_notebook(
    text: str, name: str = "notebook", warnings_out: list[str] | None = None
) -> NotebookNode:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{name}: not a notebook (invalid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    except RecursionError:  # the JSON parser recurses per level; so would nbformat's validator
        raise NotebookError(f"{name}: not a notebook (its JSON is nested too deep)") from None
    if _depth_over(data, MAX_DEPTH):
        raise NotebookError(
            f"{name}: not a notebook (a value is nested more than {MAX_DEPTH} levels deep)"
        )
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{name}: not a notebook (JSON without notebook cells)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several unrelated types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotebookError(f"{name}: not a valid notebook ({first_line[:200]})") from None
    if warnings_out is not None:
        warnings_out += _warning_lines(caught)
    if len(nb.cells) > MAX_CELLS:
        raise NotebookError(f"{name}: {len(nb.cells)} cells is over the limit of {MAX_CELLS}")
    language = nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get(
        "language_info", {}
    ).get("name", "python")
    if str(language).lower() != "python":
        raise NotebookError(
            f"{name}: written for a {language} kernel; the lab must be a Python 3 notebook"
        )
    return nb


_KNOWN_WARNINGS = {
    "MissingIDFieldWarning": "cells without an id (nbformat gives them one)",
    "DuplicateCellId": "cells sharing an id (nbformat renumbers them)",
}


def _warning_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    """One short line per kind of warning: no file paths, no control characters."""
    lines: dict[str, None] = {}
    for warning in caught:
        kind = warning.category.__name__
        text = _KNOWN_WARNINGS.get(kind) or f"{kind}: {str(warning.message).split('. ')[0]}"
        lines.setdefault("".join(c if c.isprintable() else " " for c in text)[:160])
    return list(lines)


def _depth_over(data: object, limit: int) -> bool:
    """True when `data` (parsed JSON) nests more than `limit` levels; iterative, no recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return False


def cell_tags(cell: NotebookNode) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []


def grade_id_of(cell: NotebookNode) -> str | None:
    """nbgrader's name of a cell (its `grade_id`), or None."""
    nbgrader = cell.get("metadata", {}).get("nbgrader")
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def code_cells(nb: NotebookNode, skip_tags: tuple[str, ...] = ()) -> Iterator[tuple[int, str]]:
    """(index, source) of each code cell to execute, leaving out cells carrying a skipped tag."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not set(cell_tags(cell)) & set(skip_tags):
            yield index, cell.source


def write_notebook(nb: NotebookNode, path: Path) -> None:
    """Write `nb` byte-for-byte reproducibly (sorted keys, fixed indent, final newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def without_magics(source: str) -> str:
    """IPython magics (`%matplotlib`, `%%time`) and shell escapes, commented out: what is left
    is Python that `ast` can read."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())  # fmt: skip


MODULE_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def notebook_imports(nb: NotebookNode, skip_tags: tuple[str, ...] = ()) -> list[str]:
    """The modules a notebook's code cells import at their top level (`import x.y`, `from x.y
    import z`), in order, without duplicates; a cell that does not parse is left out."""
    found: list[str] = []
    for _, source in code_cells(nb, skip_tags):
        try:
            tree = ast.parse(without_magics(source))
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
    return [name for name in dict.fromkeys(found) if MODULE_NAME.fullmatch(name)]
