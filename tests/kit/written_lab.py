"""A fixture lab with written questions, in a course of its own: two code questions (hidden tests)
and two written questions (answer cells with a model answer and a mark scheme), 6 points.

    build_course(folder)                        the course, not yet released
    student_notebook(release, answers, ...)     a submission filled in from the released notebook

The review app's tests and its benchmark (`benchmarks/bench_review.py`) grade notebooks of it.
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[2]
LAB = "essay"
POINTS = 6
WRITTEN = ("2.1 Why doubling is linear", "2.2 Doubling against squaring")
CODE = ("1.1 Doubling", "1.2 Halving")

DOUBLE = '''def double(x):
    """Twice x (a number or a NumPy array)."""
    ### BEGIN SOLUTION
    # TODO: multiply x by two.
    return 2 * x
    ### END SOLUTION'''

HALVE = '''def halve(x):
    """Half of x (a number or a NumPy array), as floats."""
    ### BEGIN SOLUTION
    # TODO: divide x by two.
    return x / 2
    ### END SOLUTION'''

WHY_LINEAR = """### BEGIN SOLUTION
Doubling is linear: double(a + b) equals double(a) + double(b), and double(c * a) equals c times
double(a); for example double(1 + 2) = 6 = 2 + 4.
### END SOLUTION

=== BEGIN MARK SCHEME ===
- +1: states additivity or homogeneity
- +1: gives a worked example with numbers
- -0.5: confuses doubling with squaring
Accept any correct definition of linearity.
=== END MARK SCHEME ==="""

COMPARE = """### BEGIN SOLUTION
Squaring is not linear: (1 + 2) squared is 9, but 1 squared plus 2 squared is only 5.
### END SOLUTION

=== BEGIN MARK SCHEME ===
- +1: a counterexample showing squaring is not additive
- 0: blank or off topic
=== END MARK SCHEME ==="""

TESTS = '''import numpy as np
import pytest


@pytest.mark.question("1.1 Doubling")
@pytest.mark.points(2)
def test_double(sub, ref, rng, tol):
    x = rng.normal(size=4)
    tol.assert_close(sub.double(x), ref.double(x), what="double(x)")


@pytest.mark.question("1.2 Halving")
@pytest.mark.points(1)
def test_halve(sub, ref, rng, tol):
    x = rng.normal(size=4)
    tol.assert_close(sub.halve(x), ref.halve(x), what="halve(x)")
'''


def _nbgrader(grade_id: str, *, grade: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": False, "schema_version": 3,
            "solution": True, "task": False}  # fmt: skip
    if points is not None:
        meta["points"] = points
    return meta


def written_answer_cell(source: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """A written question's answer cell: nbgrader's manually graded answer."""
    cell = new_markdown_cell(source)
    cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=True, points=points)
    return cell


def source_notebook() -> nbformat.NotebookNode:
    double, halve = new_code_cell(DOUBLE), new_code_cell(HALVE)
    double.metadata["nbgrader"] = _nbgrader("double")
    halve.metadata["nbgrader"] = _nbgrader("halve")
    return new_notebook(cells=[
        new_markdown_cell("# Essay lab\n\nThe lab is worth {{points}} points: two functions and "
                          "two answers in words."),
        new_code_cell("import numpy as np"),
        new_markdown_cell(f"### {CODE[0]} (2 points)\n\nWrite `double(x)`."), double,
        new_code_cell("assert double(2) == 4"),
        new_markdown_cell(f"### {CODE[1]} (1 point)\n\nWrite `halve(x)`."), halve,
        new_markdown_cell(f"### {WRITTEN[0]} (2 points)\n\nExplain in two sentences why doubling "
                          "is a linear map, with an example."),
        written_answer_cell(WHY_LINEAR, "why_linear", 2),
        new_markdown_cell(f"### {WRITTEN[1]} (1 point)\n\nIs squaring linear too? Say why or "
                          "why not."),
        written_answer_cell(COMPARE, "compare", 1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})  # fmt: skip


def build_course(folder: Path, lab_settings: str = "") -> Path:
    """The course folder (course_config.py, source, hidden tests, courselib): ready to release."""
    from course_files import course_config

    lab = (f'{{"id": "{LAB}", "title": "Essay lab", "notebook": "source/{LAB}/{LAB}.ipynb", '
           f'"release": "2026-10-01T09:00", "due": "2026-10-12T23:59", "points": {POINTS}'
           f'{lab_settings}}}')  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "course_config.py").write_text(course_config(labs=lab))
    (folder / "source" / LAB).mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), folder / "source" / LAB / f"{LAB}.ipynb")
    (folder / "tests" / LAB).mkdir(parents=True, exist_ok=True)
    (folder / "tests" / "conftest.py").write_text('pytest_plugins = ["autograder.pytest_plugin"]\n')
    (folder / "tests" / LAB / f"test_{LAB}.py").write_text(TESTS)
    if not (folder / "courselib").exists():
        (folder / "courselib").symlink_to(REPO / "courselib")
    (folder / "constraints.txt").write_text((REPO / "constraints.txt").read_text())
    return folder


def student_notebook(release: nbformat.NotebookNode, answers: dict[str, str],
                     double: str = "return 2 * x", halve: str = "return x / 2",
                     attachments: dict | None = None) -> nbformat.NotebookNode:  # fmt: skip
    """The released notebook as a student fills it in: code bodies for double and halve, and
    `answers` (grade_id -> text) in the written answer cells (attachments: grade_id -> the
    cell's nbformat attachments)."""
    nb = copy.deepcopy(release)
    bodies = {"double": double, "halve": halve}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in bodies:
            header = cell.source.split("\n")[:2]
            cell.source = "\n".join([*header, textwrap.indent(bodies[grade_id], "    ")])
        elif grade_id in answers:
            cell.source = answers[grade_id]
            if attachments and grade_id in attachments:
                cell["attachments"] = attachments[grade_id]
    return nb
