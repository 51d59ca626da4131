"""Grade variants of a lab's solution: the proof that hidden tests judge well.

A variant is the solution notebook with one piece of code replaced (a plausible mistake, or a
correct alternative). It is graded by the real hidden tests, and the points per question show
which questions it breaks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from autograder.config import Course, load_course
from autograder.hidden_tests import run_hidden_tests
from autograder.notebook import read_notebook, write_notebook
from autograder.release import build_solution_notebook


@dataclass(frozen=True)
class Variant:
    name: str
    grade_id: str  # nbgrader grade_id of the cell to edit
    old: str  # text that must occur exactly once in that cell
    new: str
    breaks: frozenset[str] = field(default_factory=frozenset)  # questions that must lose points
    edits: tuple[tuple[str, str, str], ...] = ()  # further (grade_id, old, new) edits

    def __str__(self) -> str:
        return self.name


def variant_notebook(course: Course, lab_id: str, variant: Variant) -> NotebookNode:
    nb = build_solution_notebook(read_notebook(course.lab(lab_id).notebook))
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}
    for grade_id, old, new in ((variant.grade_id, variant.old, variant.new), *variant.edits):
        cell = cells[grade_id]
        count = cell.source.count(old)
        assert count == 1, f"{variant.name}: {old!r} occurs {count} times in cell {grade_id}"
        cell.source = cell.source.replace(old, new)
    return nb


def points_by_question(course: Course, lab_id: str, nb: NotebookNode, folder: Path) -> dict:
    """{question: (earned, possible)} for a notebook graded by the lab's hidden tests."""
    path = folder / "variant.ipynb"
    write_notebook(nb, path)
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for record in run_hidden_tests(course, lab_id, submission=path):
        totals[record.question][0] += record.earned
        totals[record.question][1] += record.points
    return {question: (earned, possible) for question, (earned, possible) in totals.items()}


def assert_breaks_exactly(variant: Variant, scores: dict) -> None:
    unknown = variant.breaks - set(scores)
    assert not unknown, f"{variant.name}: no such questions {sorted(unknown)}"
    for question, (earned, possible) in scores.items():
        if question in variant.breaks:
            assert earned < possible, f"{variant.name}: keeps full marks on {question!r}"
        else:
            assert earned == possible, (
                f"{variant.name}: loses points on {question!r} ({earned:g}/{possible:g})"
            )


def check_variant(lab_id: str, variant: Variant, folder: Path) -> None:
    """Grade `variant` of the lab's solution and assert it breaks exactly `variant.breaks`."""
    course = load_course()
    scores = points_by_question(course, lab_id, variant_notebook(course, lab_id, variant), folder)
    assert_breaks_exactly(variant, scores)
