"""`autograder export grades <lab> --format canvas|moodle|gradescope|csv`: final grades for an LMS.

The grades are the report's (`autograder.records.report.student_grades`): the tests' points and
the TAs' manual points less the late penalty under the course's current late policy and
extensions. Students are matched
through the roster (`--roster`, the CSV `grade` takes): each roster student is one row, identified
by the ids the target's importer reads:

- `canvas`: Student, ID (`lms_id`), SIS User ID (`sis_id`), SIS Login ID (`login`), Section,
  then the assignment (the lab's title, or `--assignment "Lab 1 (1234)"` for an existing Canvas
  assignment), and a second row "Points Possible". Canvas's importer (`lib/gradebook_importer.rb`)
  needs `Student` and `ID` first and `Section` last of the student columns, and finds the student
  by ID, then SIS User ID, then SIS Login ID, then by name: a row needs one of the three ids;
- `moodle`: the identifier the TA maps from in Moodle's CSV import (`--match email`: "Email
  address", `idnumber`: "ID number" = `sis_id`, `username`: "Username" = `login`), then the
  lab's title. Moodle's importer (`grade/import/csv/classes/load_data.php`) gives a row whose
  identifier is empty to the student of the row before it, and stops the whole import at an
  identifier it does not know: so only rows that carry the chosen identifier are written, and
  an identifier two roster students share is refused;
- `gradescope`: Name, SID (`sis_id`), Email (`email`), Total Score (Gradescope's "Upload Scores");
- `csv`: student, the roster ids, final, possible, status (a roster is optional).

An empty grade cell clears a grade already in Canvas and Moodle (both read it as "no grade"),
so an LMS file never holds one: a roster student without a submission (unless the course says
`"missing_submission": "zero"`), a withheld grade (submission time unknown), an incomplete one
(a question no TA has graded yet) and one the grader could not grade are left out of the file
and listed, as are graded students who are not on the roster and roster students without the id
the target reads. The plain CSV keeps every row, with its status.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.core.config import Course
from autograder.core.errors import UserError
from autograder.core.safe_text import csv_cell
from autograder.intake.roster import ID_COLUMNS, Roster
from autograder.intake.student_id import same_student_key
from autograder.records.gradebook import Gradebook
from autograder.records.report import StudentGrade, student_grades

FORMATS = ("canvas", "moodle", "gradescope", "csv")
NEEDS_ROSTER = ("canvas", "moodle", "gradescope")
# Moodle's CSV import maps a row to a user by one field the TA picks: its header here, and the
# roster column that holds it.
MOODLE_MATCH = {"email": ("Email address", "email"), "idnumber": ("ID number", "sis_id"),
                "username": ("Username", "login")}  # fmt: skip
LMS_NAMES = {"canvas": "Canvas", "moodle": "Moodle", "gradescope": "Gradescope"}


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
        ids = {column: entry.get(column) for column in ID_COLUMNS}
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
    if row.grade.fault:
        return "not graded: the grader failed (grade again with the same command)"
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


def _moodle(rows: list[ExportRow], score: Callable[[ExportRow], str], column: str,
            header: str, assignment: str) -> list[list[str]]:  # fmt: skip
    return [[header, assignment], *([row.ids[column], score(row)] for row in rows)]


def _gradescope(rows: list[ExportRow], score: Callable[[ExportRow], str]) -> list[list[str]]:
    return [["Name", "SID", "Email", "Total Score"],
            *([row.ids.get("name") or row.student, row.ids["sis_id"], row.ids["email"],
               score(row)] for row in rows)]  # fmt: skip


# The ids each LMS can match a row by: a row with none of them cannot be imported.
IDENTIFIERS = {"canvas": ("lms_id", "sis_id", "login"), "gradescope": ("sis_id", "email")}


def _importable(
    rows: list[ExportRow], fmt: str, identifiers: tuple[str, ...],
    score: Callable[[ExportRow], str],
) -> tuple[list[ExportRow], list[str]]:  # fmt: skip
    """The rows an LMS import can take without harm, and one line for each left out."""
    lms = LMS_NAMES[fmt]
    left_out = [f"graded but not on the roster, left out: {row.student}"
                for row in rows if not row.on_roster]  # fmt: skip
    kept = []
    for row in (row for row in rows if row.on_roster):
        if not any(row.ids[column] for column in identifiers):
            left_out.append(f"no {' or '.join(identifiers)} on the roster, left out: "
                            f"{row.student}")  # fmt: skip
        elif score(row) == "":
            left_out.append(f"no grade to write ({_status(row)}), left out (an empty cell "
                            f"would clear the grade in {lms}): {row.student}")  # fmt: skip
        else:
            kept.append(row)
    if len(identifiers) == 1:  # one column maps the rows: a shared value would merge students
        column = identifiers[0]
        seen: dict[str, list[ExportRow]] = {}
        for row in kept:
            seen.setdefault(row.ids[column].strip().casefold(), []).append(row)
        shared = [group for group in seen.values() if len(group) > 1]
        for group in shared:
            left_out.append(f"{column} {group[0].ids[column]!r} is on the roster for "
                            f"{', '.join(row.student for row in group)}, left out")  # fmt: skip
        kept = [row for row in kept if len(seen[row.ids[column].strip().casefold()]) == 1]
    return kept, left_out


def export_grades(
    course: Course, lab_id: str, gradebook: Gradebook, fmt: str, out: Path,
    roster: Roster | None = None, assignment: str | None = None, match: str = "email",
) -> GradeExport:  # fmt: skip
    """Write the lab's final grades as `fmt` to `out` (`match`: Moodle's identifier)."""
    lab = course.lab(lab_id)
    if fmt not in FORMATS:
        raise GradeExportError(f"--format {fmt}: unknown format (one of {', '.join(FORMATS)})")
    if match not in MOODLE_MATCH:
        raise GradeExportError(f"--match {match}: unknown identifier (one of "
                               f"{', '.join(MOODLE_MATCH)})")  # fmt: skip
    if fmt in NEEDS_ROSTER and roster is None:
        raise GradeExportError(f"--format {fmt}: needs --roster roster.csv, the course's "
                               f"students with the ids {fmt} knows them by")  # fmt: skip
    grades = student_grades(course, lab_id, gradebook)
    rows = _rows(grades, roster)

    def score(row: ExportRow) -> str:
        return _score(row, course)

    warnings = [f"incomplete (not graded yet: {', '.join(row.grade.pending)}), left empty: "
                f"{row.student}" if row.grade.pending else
                f"withheld (submission time unknown), left empty: {row.student}"
                for row in rows if row.grade is not None and row.grade.final is None
                and not row.grade.fault] if fmt == "csv" else []  # fmt: skip
    if fmt == "csv":
        warnings += [f"not graded (the grader failed; grade again with the same command), "
                     f"left empty: {row.student}" for row in rows if row.grade and row.grade.fault]
    title = assignment or lab.title
    if fmt == "csv":
        table = [["student", *ID_COLUMNS, "final", "possible", "status"]]
        table += [[row.student, *(row.ids.get(column, "") for column in ID_COLUMNS),
                   score(row), _points(lab.points), _status(row)] for row in rows]
    elif fmt == "moodle":
        header, column = MOODLE_MATCH[match]
        rows, warnings = _importable(rows, fmt, (column,), score)
        table = _moodle(rows, score, column, header, title)
        warnings.insert(0, f"Moodle: Grades > Import > CSV file, map from {header!r} to "
                           f"{header!r} and {title!r} to the assignment")  # fmt: skip
    else:
        rows, warnings = _importable(rows, fmt, IDENTIFIERS[fmt], score)
        table = _canvas(rows, score, lab.points, title) if fmt == "canvas" \
            else _gradescope(rows, score)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([[csv_cell(cell) for cell in line] for line in table])
    return GradeExport(out, len(rows), warnings)
