"""Solution regions of a source notebook and the stubs that replace them in the release.

A region is the lines between `### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader's markers).
In the student notebook it becomes the region's leading `# TODO:` comment lines (or a generic
one) and `raise NotImplementedError()`, at the indentation of the BEGIN marker. A written
answer cell (`autograder.core.written`) becomes nbgrader's stub, `YOUR ANSWER HERE`, whole: its
model answer and mark scheme stay in the source; a solution region in any other Markdown cell
becomes that stub too.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbformat import NotebookNode

from autograder.core.errors import UserError
from autograder.core.written import (
    WRITTEN_STUB,
    WrittenQuestionError,
    is_written_answer,
    split_mark_scheme,
)

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEFAULT_TODO = "# TODO: your code here"
# Solution lines shorter than this (`return x`, `pass`) may appear in a release legitimately.
MIN_LEAK_LINE = 25


class SourceError(UserError):
    """A source notebook that cannot be released, described in one line."""


@dataclass
class Region:
    indent: str
    lines: list[str]  # the solution lines, markers excluded

    def stub(self, markdown: bool = False) -> list[str]:
        if markdown:  # a written answer: nbgrader's placeholder, not code
            return [self.indent + WRITTEN_STUB]
        todos = []
        for line in self.lines:
            if not line.strip().startswith("# TODO"):
                break
            todos.append(line.strip())
        return [self.indent + text for text in (todos or [DEFAULT_TODO])] + [
            self.indent + "raise NotImplementedError()"
        ]


def parse_regions(source: str, where: str) -> list[str | Region]:
    """Split a cell's source into plain lines and solution regions; refuse unbalanced markers."""
    parts: list[str | Region] = []
    region: Region | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if region is not None:
                raise SourceError(f"{where}, line {number}: {BEGIN} inside an open solution region")
            region = Region(indent=line[: len(line) - len(line.lstrip())], lines=[])
        elif marker.startswith(END):
            if region is None:
                raise SourceError(f"{where}, line {number}: {END} without a {BEGIN} before it")
            parts.append(region)
            region = None
        elif region is not None:
            region.lines.append(line)
        else:
            parts.append(line)
    if region is not None:
        raise SourceError(f"{where}: {BEGIN} is never closed by {END}")
    return parts


def has_regions(source: str) -> bool:
    return BEGIN in source or END in source


def stub_source(source: str, where: str, markdown: bool = False) -> str:
    lines: list[str] = []
    for part in parse_regions(source, where):
        lines.extend(part.stub(markdown) if isinstance(part, Region) else [part])
    return "\n".join(lines)


def solution_source(source: str, where: str) -> str:
    """The source with the marker lines removed and the solutions kept."""
    lines: list[str] = []
    for part in parse_regions(source, where):
        lines.extend(part.lines if isinstance(part, Region) else [part])
    return "\n".join(lines)


def written_solution(source: str, where: str) -> str:
    """A written answer cell in the solution notebook: the model answer, without its markers
    and without the mark scheme (the rubric lives in the source notebook only)."""
    try:
        answer, _ = split_mark_scheme(source)
    except WrittenQuestionError as error:
        raise SourceError(f"{where}: {error}") from None
    return solution_source(answer, where).strip("\n")


def _significant(lines: list[str]) -> set[str]:
    return {line.strip() for line in lines
            if len(line.strip()) >= MIN_LEAK_LINE and not line.strip().startswith("#")}


def solution_lines(nb: NotebookNode) -> set[str]:
    """The significant solution lines of a notebook, to look for leaks in its release: the
    solution regions, and the whole of every written answer cell (model answer and rubric)."""
    found: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if is_written_answer(cell):
            found |= _significant(cell.source.splitlines()) - {WRITTEN_STUB}
            continue
        for part in parse_regions(cell.source, f"cell {index}"):
            if isinstance(part, Region):
                found |= _significant(part.lines)
    return found


def check_nbgrader_metadata(nb: NotebookNode) -> None:
    """Cells with solution regions must be nbgrader solution cells; grade ids must be unique."""
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if has_regions(cell.source) and not (meta and meta.get("solution")):
            raise SourceError(
                f"cell {index}: has solution markers but no nbgrader metadata with solution: true"
            )
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if not grade_id:
            raise SourceError(f"cell {index}: nbgrader metadata without a grade_id")
        if grade_id in seen:
            raise SourceError(f"cell {index}: duplicate nbgrader grade_id {grade_id!r}")
        seen.add(grade_id)
