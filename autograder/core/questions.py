"""Question numbers and headings: "2.10 Training" is question (2, 10), and questions are ordered
by them; each question has one heading `### 2.10 Training (3 points)` in the notebook.

The release checks that the numbers follow the notebook's headings, so ordering by number is
ordering as the notebook does (reports, feedback, exports).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nbformat import NotebookNode

_QUESTION_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)*)")
QUESTION_HEADING = re.compile(
    r"^#{1,6}\s+(?P<name>.+?)\s+\((?P<points>\d+(?:\.\d+)?) points?\)\s*$"
)


@dataclass(frozen=True)
class Heading:
    cell: int
    name: str
    points: float


def question_headings(nb: NotebookNode) -> list[Heading]:
    """The notebook's question headings, in notebook order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = QUESTION_HEADING.match(line.strip())
                if match:
                    found.append(Heading(index, match.group("name"), float(match.group("points"))))
    return found


def question_number(name: str) -> tuple[int, ...]:
    """The number a question's name starts with, part by part; () when it has none."""
    match = _QUESTION_NUMBER.match(name)
    return tuple(int(part) for part in match[1].split(".")) if match else ()


def question_order(questions: Iterable[str]) -> list[str]:
    """Questions in notebook order: by their numbers ("1.2" < "1.10" < "2.1"); questions
    without a number after those, in the order given."""
    first_seen = list(dict.fromkeys(questions))

    def key(item: tuple[int, str]) -> tuple[int, tuple[int, ...], int]:
        position, name = item
        number = question_number(name)
        return (0 if number else 1, number, position)

    return [name for _, name in sorted(enumerate(first_seen), key=key)]
