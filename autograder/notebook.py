"""Read notebooks and check that they are notebooks we can grade.

Every failure is a `NotebookError` whose message is one line a student or TA can act on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbformat import NotebookNode

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
MAX_CELLS = 2000


class NotebookError(Exception):
    """A file that cannot be used as a notebook, described in one line."""


def read_notebook(path: str | Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> NotebookNode:
    """Read `path` as an nbformat 4 notebook (older formats are upgraded) and validate it."""
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
    return parse_notebook(text, path.name)


def parse_notebook(text: str, name: str = "notebook") -> NotebookNode:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{name}: not a notebook (invalid JSON at line {exc.lineno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{name}: not a notebook (JSON without notebook cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several unrelated types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotebookError(f"{name}: not a valid notebook ({first_line[:200]})") from None
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


def cell_tags(cell: NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


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
