"""`autograder export grades <lab> --format canvas|moodle|gradescope|csv`: final grades for an LMS.

The grades are the report's (`autograder.records.report.student_grades`): the tests' points and
the TAs' manual points less the late penalty under the course's current late policy and
extensions. Students are matched
through the roster (`--roster`, the CSV `grade` takes): each roster student is one row, identified
by the ids
the target reads:

- `canvas`: Student, ID (`lms_id`), SIS User ID (`sis_id`), SIS Login ID (`login`), Section,
  then the assignment (the lab's title, or `--assignment "Lab 1 (1234)"` for an existing Canvas
  assignment), and a second row "Points Possible" (Canvas's gradebook import);
- `moodle`: Email address (`email`), ID number (`sis_id`), then the lab's title (Moodle's CSV
  grade import: map either identifier);
- `gradescope`: Name, SID (`sis_id`), Email (`email`), Total Score (Gradescope's "Upload Scores");
- `csv`: student, the roster ids, final, possible, status (a roster is optional).

A roster student without a submission gets an empty cell, or 0 when the course says
`"missing_submission": "zero"`. A grade withheld (submission time unknown) or incomplete (a
question no TA has graded yet) stays empty and is listed; so are graded students who are not on
the roster (they cannot be placed in an LMS file) and roster students the target cannot
identify (no id of the kind it reads).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.core.config import Course
from autograder.core.errors import UserError
from autograder.core.safe_text import csv_cell
from autograder.intake.roster import Roster
from autograder.intake.student_id import same_student_key
from autograder.records.gradebook import ROSTER_COLUMNS, Gradebook
from autograder.records.report import StudentGrade, student_grades

FORMATS = ("canvas", "moodle", "gradescope", "csv")
NEEDS_ROSTER = ("canvas", "moodle", "gradescope")


class GradeExportError(UserError):
    """A grade export that cannot be written, described in one line."""


@dataclass(frozen=True)
class ExportRow:
    student: str
    ids: dict[str, str]  # roster column -> id ("" when unknown)
    grade: StudentGrade | None  # None: no submission
    on_roster: bool


@dataclass
class GradeExport:
    path: Path
    rows: int
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"wrote {self.path} ({self.rows} students)", *self.warnings]


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def _rows(grades: list[StudentGrade], roster: Roster | None) -> list[ExportRow]:
    """One row per roster student (in roster order), then the graded students not on it."""
    by_student = {same_student_key(grade.student): grade for grade in grades}
    rows = []
    for entry in roster.entries if roster else []:
        grade = by_student.pop(same_student_key(entry.student), None)
        ids = {column: entry.get(column) for column in ROSTER_COLUMNS}
        rows.append(ExportRow(entry.student, ids, grade, True))
    rows += [ExportRow(grade.student, grade.roster, grade, False) for grade in by_student.values()]
    return rows


def _score(row: ExportRow, course: Course) -> str:
    if row.grade is None:
        return "0" if course.missing_submission == "zero" else ""
    return "" if row.grade.final is None else _points(row.grade.final)


def _status(row: ExportRow) -> str:
    if row.grade is None:
        return "no submission"
    if row.grade.pending:
        return "incomplete: not graded yet: " + ", ".join(row.grade.pending)
    if row.grade.final is None:
        return "withheld: submission time unknown"
    return "graded" if row.on_roster else "graded, not on the roster"


def _canvas(rows: list[ExportRow], score: Callable[[ExportRow], str], points: float,
            assignment: str) -> list[list[str]]:  # fmt: skip
    table = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment],
             ["Points Possible", "", "", "", "", _points(points)]]  # fmt: skip
    table += [[row.ids.get("name") or row.student, row.ids["lms_id"], row.ids["sis_id"],
               row.ids["login"], "", score(row)] for row in rows]  # fmt: skip
    return table


def _moodle(rows: list[ExportRow], score: Callable[[ExportRow], str], points: float,
            assignment: str) -> list[list[str]]:  # fmt: skip
    return [["Email address", "ID number", assignment],
            *([row.ids["email"], row.ids["sis_id"], score(row)] for row in rows)]


def _gradescope(rows: list[ExportRow], score: Callable[[ExportRow], str], points: float,
                assignment: str) -> list[list[str]]:  # fmt: skip
    return [["Name", "SID", "Email", "Total Score"],
            *([row.ids.get("name") or row.student, row.ids["sis_id"], row.ids["email"],
               score(row)] for row in rows)]  # fmt: skip


# The ids each LMS can match a row by: a row with none of them cannot be imported.
IDENTIFIERS = {"canvas": ("lms_id", "sis_id", "login"), "moodle": ("email", "sis_id"),
               "gradescope": ("sis_id", "email")}  # fmt: skip
TABLES = {"canvas": _canvas, "moodle": _moodle, "gradescope": _gradescope}


def export_grades(
    course: Course, lab_id: str, gradebook: Gradebook, fmt: str, out: Path,
    roster: Roster | None = None, assignment: str | None = None,
) -> GradeExport:  # fmt: skip
    """Write the lab's final grades as `fmt` to `out`."""
    lab = course.lab(lab_id)
    if fmt not in FORMATS:
        raise GradeExportError(f"--format {fmt}: unknown format (one of {', '.join(FORMATS)})")
    if fmt in NEEDS_ROSTER and roster is None:
        raise GradeExportError(f"--format {fmt}: needs --roster roster.csv, the course's "
                               f"students with the ids {fmt} knows them by")  # fmt: skip
    grades = student_grades(course, lab_id, gradebook)
    rows = _rows(grades, roster)
    warnings = [f"incomplete (not graded yet: {', '.join(row.grade.pending)}), left empty: "
                f"{row.student}" if row.grade.pending else
                f"withheld (submission time unknown), left empty: {row.student}"
                for row in rows if row.grade is not None and row.grade.final is None]
    if fmt == "csv":
        table = [["student", *ROSTER_COLUMNS, "final", "possible", "status"]]
        table += [[row.student, *(row.ids.get(column, "") for column in ROSTER_COLUMNS),
                   _score(row, course), _points(lab.points), _status(row)] for row in rows]
    else:
        placed = [row for row in rows if row.on_roster]
        warnings += [f"graded but not on the roster, left out: {row.student}"
                     for row in rows if not row.on_roster]
        identifiable = [row for row in placed if any(row.ids[c] for c in IDENTIFIERS[fmt])]
        warnings += [f"no {' or '.join(IDENTIFIERS[fmt])} on the roster, left out: {row.student}"
                     for row in placed if row not in identifiable]  # fmt: skip
        rows = identifiable
        table = TABLES[fmt](rows, lambda row: _score(row, course), lab.points,
                            assignment or lab.title)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([[csv_cell(cell) for cell in line] for line in table])
    return GradeExport(out, len(rows), warnings)
