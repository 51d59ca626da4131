"""`autograder import otter <master notebook>`: an Otter Assign (v1 format) master notebook as a lab
of this course.

- Solution cells keep their solutions inside the kit's (nbgrader's) markers: `# BEGIN SOLUTION` /
  `# END SOLUTION` comments become `### BEGIN SOLUTION` / `### END SOLUTION`, and a line ending
  in `# SOLUTION` becomes a region of its own. Otter's raw marker cells and test cells leave the
  notebook (Otter's `grader.check` needs its own files; the kit's hidden tests replace it).
- Each test case becomes one hidden test worth the points Otter gives it (a case's own `points`,
  else the question's points shared among the cases without any, as Otter resolves them). As in
  Otter, where a case is a doctest whose expected output is the solution's, the test passes when
  the case's code shows the same output on the submission as on the reference solution.
- Each question gets one heading, `### 1.<k> <name> (<points> points)`, at its first cell.
- Manually graded questions (`manual: true`) and `all_or_nothing` are named, not imported.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbformat.v4 import new_markdown_cell

from autograder.authoring.course_init import InitError
from autograder.authoring.import_nbgrader import (
    ImportedLab,
    ImportedTest,
    defined_names,
    first_heading,
    plain_heading_points,
    python_name,
    write_lab,
)
from autograder.authoring.stubs import BEGIN, END

MARKER = re.compile(r"^\s*#\s*(?:(BEGIN|END)\s+)?(ASSIGNMENT CONFIG|QUESTION|SOLUTION|TESTS|PROMPT)"
                    r"\b", re.IGNORECASE)  # fmt: skip
TEST_CONFIG = re.compile(r'^(?:.\s*=\s*)?"""?\s*#\s*BEGIN\s*TEST\s*CONFIG(.*?)"""?\s*#\s*END\s*'
                         r"TEST\s*CONFIG[^\n]*\n?", re.DOTALL | re.IGNORECASE)  # fmt: skip


def _marker(cell: Any) -> tuple[str, str, str] | None:
    """(BEGIN|END, what, the rest of the cell) for an Otter marker cell, else None."""
    if cell.cell_type not in ("raw", "markdown", "code"):
        return None
    match = MARKER.match(cell.source)
    if not match:
        return None
    what = match.group(2).upper()
    if match.group(1) is None and what != "ASSIGNMENT CONFIG":
        return None  # "# QUESTION ..." without BEGIN or END is an ordinary comment
    return (match.group(1) or "BEGIN").upper(), what, cell.source[match.end():]


def kit_solution(source: str) -> str:
    """Otter's solution markers as the kit's: comments to `###` markers, `# SOLUTION` lines to
    one-line regions."""
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if re.fullmatch(r"#\s*BEGIN SOLUTION(\s+NO PROMPT)?", stripped, re.IGNORECASE):
            lines.append(indent + BEGIN)
        elif re.fullmatch(r"#\s*END SOLUTION", stripped, re.IGNORECASE):
            lines.append(indent + END)
        elif re.search(r"#\s*SOLUTION\s*$", line):
            lines += [indent + BEGIN, re.sub(r"\s*#\s*SOLUTION\s*$", "", line), indent + END]
        else:
            lines.append(line)
    return "\n".join(lines)


def _test_case(source: str) -> tuple[str, bool, float | None]:
    """(code, hidden, points) of an Otter test cell."""
    hidden = bool(re.match(r"\s*#.*\bhidden\b", source.splitlines()[0] if source else "",
                           re.IGNORECASE))  # fmt: skip
    points = None
    match = TEST_CONFIG.match(source.lstrip())
    if match:
        config = yaml.safe_load(match.group(1)) or {}
        hidden = bool(config.get("hidden", hidden))
        points = config.get("points")
        source = source.lstrip()[match.end():]
    elif hidden:
        source = "\n".join(source.splitlines()[1:])
    return source.strip("\n"), hidden, points


def resolve_points(question_points: Any, cases: list[float | None]) -> list[float]:
    """Each case's points, as Otter resolves them (otter.test_files.abstract_test)."""
    if isinstance(question_points, dict):
        return [float(question_points.get("each", 1))] * len(cases)
    if isinstance(question_points, list):
        return [float(points) for points in question_points]
    given = sum(points for points in cases if points is not None)
    unset = sum(points is None for points in cases)
    if question_points is not None:
        share = (float(question_points) - given) / unset if unset else 0.0
    elif given == 0:
        share = 1 / unset if unset else 0.0
    else:
        share = 0.0
    return [float(points) if points is not None else share for points in cases]


def read_otter(path: Path, lab_id: str | None = None) -> ImportedLab:
    if not path.is_file():
        raise InitError(f"{path}: no such notebook; give the Otter Assign master notebook")
    nb = nbformat.read(str(path), as_version=4)
    cells: list = []
    tests: list[ImportedTest] = []
    student_names: set[str] = set()
    notes: list[str] = []
    config: dict = {}
    question: dict | None = None
    question_first = 0
    cases: list[tuple[str, bool, float | None]] = []
    in_solution = in_tests = False
    for cell in nb.cells:
        marker = _marker(cell)
        if marker:
            begin, what, rest = marker
            if what == "ASSIGNMENT CONFIG":
                config = yaml.safe_load(rest) or {}
            elif what == "QUESTION" and begin == "BEGIN":
                question, question_first, cases = yaml.safe_load(rest) or {}, len(cells), []
            elif what == "QUESTION" and question is not None:
                _end_question(question, cases, tests, cells, question_first, notes)
                question = None
            elif what == "SOLUTION":
                in_solution = begin == "BEGIN"
            elif what == "TESTS":
                in_tests = begin == "BEGIN"
            continue  # PROMPT markers and the rest: Otter's, not the lab's
        if in_tests and cell.cell_type == "code":
            cases.append(_test_case(cell.source))
            continue
        cell = copy.deepcopy(cell)
        cell.metadata.pop("execution", None)  # the master's run times
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type == "markdown":
            cell.source = plain_heading_points(cell.source)
        if in_solution and cell.cell_type == "code":
            cell.source = kit_solution(cell.source)
            if BEGIN in cell.source:
                student_names |= defined_names(cell.source)
                index = sum(BEGIN in c.source for c in cells[question_first:]
                            if c.cell_type == "code")  # fmt: skip
                name = python_name(str((question or {}).get("name", "answer")))
                grade_id = f"{name}_{index + 1}" if index else name
                cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id,
                                             "locked": False, "schema_version": 3,
                                             "solution": True, "task": False}  # fmt: skip
        cells.append(cell)
    if not tests:
        raise InitError(f"{path}: no Otter questions with test cases to turn into hidden tests")
    lab_id = lab_id or python_name(str(config.get("name") or path.stem))
    title = first_heading(nb) or lab_id
    out = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(nb.metadata))
    out.metadata["title"] = title
    return ImportedLab(lab_id, title, out, tests, student_names, "Otter", notes)


def _end_question(question: dict, cases: list, tests: list[ImportedTest], cells: list,
                  first: int, notes: list[str]) -> None:  # fmt: skip
    name = str(question.get("name", f"q{len(tests) + 1}"))
    if question.get("manual"):
        notes.append(f"{name}: graded by hand in Otter: not imported")
        return
    if not cases:
        notes.append(f"{name}: no test cases: not imported")
        return
    if question.get("all_or_nothing"):
        notes.append(f"{name}: all_or_nothing: the kit gives each test case its own points")
    points = resolve_points(question.get("points"), [points for _, _, points in cases])
    number = len({test.question for test in tests}) + 1
    label = f"1.{number} {name}"
    total = 0.0
    for index, ((code, _hidden, _), case_points) in enumerate(zip(cases, points)):
        if case_points <= 0:
            notes.append(f"{name}: test case {index + 1} is worth no points: not imported")
            continue
        tests.append(ImportedTest(f"{python_name(name)}_{index + 1}", label, case_points, code,
                                  compare_with_reference=True))  # fmt: skip
        total += case_points
    cells.insert(first, new_markdown_cell(f"### {label} ({total:g} points)"))


def import_otter(course_root: Path, path: Path, lab_id: str | None = None) -> list[str]:
    lab = read_otter(path, lab_id)
    return write_lab(course_root, lab) + lab.notes
