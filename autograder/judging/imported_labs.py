"""How grading runs a submission of a lab imported from nbgrader or Otter (see
`autograder.authoring.imported_lab`), where it differs from the kit's own labs.

- A submission made with the original tool carries cells of that tool's own grading: nbgrader's
  autograder test cells (graded, not answers: nbgrader overwrites them with the source's and runs
  those) and Otter's `grader = otter.Notebook(...)` and `grader.check(...)` cells. The grader tags
  them `ORIGINAL_TESTS_TAG`; an imported lab skips that tag (its hidden tests run the original
  cells), other labs run them as any cell.
- Otter's grader seeds NumPy and `random` before every code cell (or sets a variable to the
  seed): an imported lab's `cell_seed` makes the grader do the same (`seeded_source`).
"""

from __future__ import annotations

import re
from typing import Any

ORIGINAL_TESTS_TAG = "original-tool-test"
OTTER_CALL = re.compile(r"(import otter|grader\s*=\s*otter\.Notebook\(.*\)|"
                        r"grader\.(check|check_all|export|to_pdf)\(.*\))\s*;?")  # fmt: skip


def is_original_tool_test(cell: Any) -> bool:
    """An nbgrader autograder test cell, or a cell of nothing but Otter's grading calls."""
    if cell.get("cell_type") != "code":
        return False
    nbgrader = cell.get("metadata", {}).get("nbgrader")
    if isinstance(nbgrader, dict) and nbgrader.get("grade") and not nbgrader.get("solution"):
        return True
    source = cell.get("source", "")
    lines = [line.strip() for line in source.splitlines() if line.strip()
             and not line.strip().startswith("#")] if isinstance(source, str) else []  # fmt: skip
    return bool(lines) and all(OTTER_CALL.fullmatch(line) for line in lines)


def seeded_source(source: str, seed: int, variable: str | None = None) -> str:
    """A code cell as Otter's grader runs it with a seed: NumPy's and `random`'s generators
    seeded first (or `variable` set to the seed), on a line of its own; a cell magic stays first."""
    if source.startswith("%%"):
        return source
    if variable:
        return f"{variable} = {seed}\n{source}"
    return f'__import__("numpy").random.seed({seed}); __import__("random").seed({seed})\n{source}'
