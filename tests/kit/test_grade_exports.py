"""Grade exports for Canvas, Moodle, Gradescope and plain CSV, from a real SQLite gradebook and a
real roster file, through the CLI, each LMS file then read the way the LMS's own importer reads it
(Canvas's `lib/gradebook_importer.rb`, Moodle's `grade/import/csv/classes/load_data.php`): every
grade lands on its student, none already in the LMS is cleared, and no row is shifted onto
another student. Final grades carry the late policy; roster students without a submission count
zero when the course says so; what cannot be written is named; every bad input is one line."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from test_reports import record, store

from autograder.cli import main
from autograder.core.config import load_course
from autograder.records.gradebook import Gradebook

ROSTER = """student,login,sis_id,email,name,lms_id
ann,ann1,s1,ann@x.edu,"Lima, Ann",101
bob,bob1,s2,bob@x.edu,Bob Stone,102
cy,,s3,,Cy Dale,
fay,fay1,s6,fay@x.edu,Fay Ng,106
dee,,,,Dee Moss,
"""


@pytest.fixture
def graded(tiny_course: Path) -> Path:
    """ann on time (2/2), bob a day late (2/2, penalty 0.2), fay without a time (withheld),
    eve graded but not on the roster; cy and dee never submitted."""
    course = load_course(tiny_course)
    book = Gradebook(f"sqlite:///{tiny_course / 'gradebook.sqlite'}")
    due = course.lab("tiny").due
    full = [record("doubling", "test_double", 2.0, 2.0)]
    store(book, "ann", full, submitted_at=due - timedelta(hours=1))
    store(book, "bob", full, submitted_at=due + timedelta(hours=3))
    store(book, "fay", full, time_note="no time")
    store(book, "eve", [record("doubling", "test_double", 1.0, 2.0)],
          submitted_at=due - timedelta(hours=1))  # fmt: skip
    (tiny_course / "roster.csv").write_text(ROSTER)
    return tiny_course


def export(course: Path, fmt: str, *extra: str) -> tuple[int, list[list[str]]]:
    out = course / "dist" / f"{fmt}.csv"
    code = main(["--course", str(course), "export", "grades", "tiny", "--format", fmt,
                 "--out", str(out), *extra])  # fmt: skip
    return code, list(csv.reader(out.open(newline=""))) if code == 0 else []


# --------------------------------------------------------------------------- the importers


@dataclass(frozen=True)
class LmsUser:
    """A student as the LMS knows them."""

    key: str  # who the test means
    id: str = ""  # Canvas user id / Moodle user id
    sis_user_id: str = ""  # Canvas SIS User ID, Moodle ID number
    login: str = ""  # Canvas SIS Login ID, Moodle username
    email: str = ""
    name: str = ""
    sortable_name: str = ""


NON_ASSIGNMENT = ("Current Score", "Current Points", "Current Grade", "Final Score",
                  "Final Points", "Final Grade", "Override Score", "Override Grade")  # fmt: skip


def canvas_import(table: list[list[str]], users: list[LmsUser],
                  current: dict[str, str]) -> tuple[dict[str, str], list[str]]:  # fmt: skip
    """What Canvas's `lib/gradebook_importer.rb` makes of a CSV: the changed grades per student
    ("" when an existing grade is removed) and the rows it could not place. `header?` needs
    "Student" and "ID" first and "Section" as the last student column (`update_column_count`
    counts "SIS User ID" and "SIS Login ID" in); `process_student` finds a student by ID, then
    SIS User ID, then SIS Login ID, then name or sortable name; `no_change_to_value?` treats a
    blank cell against an existing score as a change."""
    header = table[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1], "invalid header row"
    columns = 3
    if re.search(r"SIS\s+Login\s+ID", header[2]):
        columns += 1
    elif re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        columns += 2
    assert "Section" in header[columns - 1], "invalid header row"
    assignments = [index for index in range(columns, len(header))
                   if not any(word in header[index] for word in NON_ASSIGNMENT)]
    assert len(assignments) == 1
    changes, unplaced = {}, []
    for row in table[1:]:
        if "Points Possible" in row[0]:
            continue
        found = next((user for user in users if row[1] and user.id == row[1]), None)
        if found is None and columns >= 5:
            found = next((user for user in users if row[2] and user.sis_user_id == row[2]), None) \
                or next((user for user in users if row[3] and user.login == row[3]), None)
        found = found or next((user for user in users
                               if row[0] in (user.name, user.sortable_name)), None)  # fmt: skip
        if found is None:
            unplaced.append(row[0])
            continue
        new, old = row[assignments[0]].strip(), current.get(found.key, "")
        blank = ("", "-")
        if new != old and not (new in blank and old in blank):
            changes[found.key] = new
    return changes, unplaced


def moodle_import(table: list[list[str]], map_from: str, field: str, users: list[LmsUser],
                  grade_column: str) -> dict[str, float | None]:  # fmt: skip
    """What Moodle's `grade/import/csv/classes/load_data.php` (`prepare_import_grade_data`)
    makes of a CSV mapped from column `map_from` to user field `field`: the grade per student
    (None: "no grade", which clears one). An empty identifier leaves the student of the row
    before in place ("Skip invalid row with blank user field" never resets `$this->studentid`);
    an identifier no user has aborts the whole import."""
    header = [cell.strip() for cell in table[0]]
    identifier, grade = header.index(map_from), header.index(grade_column)
    imported: dict[str, float | None] = {}
    student = None
    for line in table[1:]:
        if len(line) <= 1:
            continue
        value = line[identifier].strip()
        if value:
            student = next((user.key for user in users if getattr(user, field) == value), None)
            if student is None:
                raise ValueError(f"usermappingerror: {field} {value!r}")
        if student is None:
            raise ValueError("usermappingerrorusernotfound")
        cell = line[grade].strip()
        imported[student] = None if cell in ("", "-") else float(cell)
    return imported


# The LMS's students: the roster's, as each platform knows them. Canvas and Moodle both hold a
# grade for cy, fay and dee already (entered by hand): no export may clear one.
USERS = [
    LmsUser("ann", "101", "s1", "ann1", "ann@x.edu", "Ann Lima", "Lima, Ann"),
    LmsUser("bob", "102", "s2", "bob1", "bob@x.edu", "Bob Stone", "Stone, Bob"),
    LmsUser("cy", "103", "s3", "cy1", "cy@x.edu", "Cy Dale", "Dale, Cy"),
    LmsUser("fay", "106", "s6", "fay1", "fay@x.edu", "Fay Ng", "Ng, Fay"),
    LmsUser("dee", "107", "s7", "dee1", "dee@x.edu", "Dee Moss", "Moss, Dee"),
]
EXISTING = {"cy": "2", "fay": "1.5", "dee": "2"}


def test_canvas_gradebook_import(graded, capsys):
    code, rows = export(graded, "canvas", "--roster", str(graded / "roster.csv"),
                        "--assignment", "Tiny lab (5521)")  # fmt: skip
    assert code == 0
    assert rows == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tiny lab (5521)"],
                    ["Points Possible", "", "", "", "", "2"],
                    ["Lima, Ann", "101", "s1", "ann1", "", "2"],
                    ["Bob Stone", "102", "s2", "bob1", "", "1.8"]]
    out = capsys.readouterr().out
    assert "(2 students)" in out
    assert "no grade to write (withheld: submission time unknown), left out (an empty cell " \
           "would clear the grade in Canvas): fay" in out  # fmt: skip
    assert "no grade to write (no submission), left out (an empty cell would clear the grade in " \
           "Canvas): cy" in out  # fmt: skip
    assert "graded but not on the roster, left out: eve" in out
    assert "no lms_id or sis_id or login on the roster, left out: dee" in out
    changes, unplaced = canvas_import(rows, USERS, EXISTING)
    assert changes == {"ann": "2", "bob": "1.8"} and unplaced == []

    # the check can fail: an empty cell (what the export wrote before) clears fay's grade
    changes, _ = canvas_import(rows + [["Fay Ng", "106", "s6", "fay1", "", ""]], USERS, EXISTING)
    assert changes["fay"] == ""


@pytest.mark.parametrize("match, header, field, ids", [
    ("email", "Email address", "email", ("ann@x.edu", "bob@x.edu")),
    ("idnumber", "ID number", "sis_user_id", ("s1", "s2")),
    ("username", "Username", "login", ("ann1", "bob1")),
])
def test_moodle_import_maps_by_the_identifier_the_ta_chose(graded, capsys, match, header, field,
                                                           ids):  # fmt: skip
    code, rows = export(graded, "moodle", "--roster", str(graded / "roster.csv"),
                        "--match", match)  # fmt: skip
    assert code == 0
    assert rows == [[header, "Tiny lab"], [ids[0], "2"], [ids[1], "1.8"]]
    out = capsys.readouterr().out
    assert f"map from {header!r} to {header!r}" in out
    assert moodle_import(rows, header, field, USERS, "Tiny lab") == {"ann": 2.0, "bob": 1.8}


def test_moodle_rows_without_the_identifier_are_left_out_never_shifted(graded, capsys):
    """cy has an ID number but no email: mapped by email, an empty identifier would hand cy's
    grade to the student of the row before (Moodle keeps the previous student)."""
    config = graded / "course_config.py"
    config.write_text(config.read_text().replace(
        '"labs": [', '"missing_submission": "zero",\n            "labs": ['))
    code, rows = export(graded, "moodle", "--roster", str(graded / "roster.csv"))
    assert code == 0 and rows == [["Email address", "Tiny lab"], ["ann@x.edu", "2"],
                                  ["bob@x.edu", "1.8"]]  # fmt: skip
    assert "no email on the roster, left out: cy" in capsys.readouterr().out
    assert moodle_import(rows, "Email address", "email", USERS, "Tiny lab") == \
        {"ann": 2.0, "bob": 1.8}
    # by ID number cy has one, and the course counts no submission as zero
    code, rows = export(graded, "moodle", "--roster", str(graded / "roster.csv"),
                        "--match", "idnumber")  # fmt: skip
    assert ["s3", "0"] in rows and not any(row[1] == "" for row in rows)
    assert moodle_import(rows, "ID number", "sis_user_id", USERS, "Tiny lab") == \
        {"ann": 2.0, "bob": 1.8, "cy": 0.0}
    # the check can fail: the row the export leaves out would have given bob's 1.8 to ann...
    shifted = [["Email address", "Tiny lab"], ["ann@x.edu", "2"], ["", "1.8"]]
    assert moodle_import(shifted, "Email address", "email", USERS, "Tiny lab") == {"ann": 1.8}
    # ...and an empty grade cell clears one
    assert moodle_import([["Email address", "Tiny lab"], ["fay@x.edu", ""]], "Email address",
                         "email", USERS, "Tiny lab") == {"fay": None}  # fmt: skip


def test_an_identifier_two_roster_students_share_is_refused(graded, capsys):
    roster = graded / "roster.csv"
    roster.write_text(roster.read_text().replace("bob@x.edu", "ann@x.edu"))
    code, rows = export(graded, "moodle", "--roster", str(roster))
    assert code == 0 and rows == [["Email address", "Tiny lab"]]
    assert "email 'ann@x.edu' is on the roster for ann, bob, left out" in capsys.readouterr().out


def test_gradescope_and_plain_csv(graded):
    roster = ["--roster", str(graded / "roster.csv")]
    code, rows = export(graded, "gradescope", *roster)
    assert rows == [["Name", "SID", "Email", "Total Score"],
                    ["Lima, Ann", "s1", "ann@x.edu", "2"], ["Bob Stone", "s2", "bob@x.edu", "1.8"]]
    code, rows = export(graded, "csv", *roster)
    by_student = {row[0]: row for row in rows[1:]}
    assert rows[0] == ["student", "login", "sis_id", "email", "name", "lms_id", "participant_id",
                       "final", "possible", "status"]  # fmt: skip
    assert by_student["dee"][-3:] == ["", "2", "no submission"]
    assert by_student["eve"][-3:] == ["1", "2", "graded, not on the roster"]
    assert by_student["fay"][-3:] == ["", "2", "withheld: submission time unknown"]
    code, rows = export(graded, "csv")  # without a roster: the graded students
    assert sorted(row[0] for row in rows[1:]) == ["ann", "bob", "eve", "fay"]


def test_missing_submissions_count_zero_when_the_course_says_so(graded):
    config = graded / "course_config.py"
    config.write_text(config.read_text().replace('"labs": [', '"missing_submission": "zero",\n            "labs": ['))
    code, rows = export(graded, "canvas", "--roster", str(graded / "roster.csv"))
    assert code == 0 and ["Cy Dale", "", "s3", "", "", "0"] in rows
    assert not any(row[1] == "106" for row in rows)  # withheld is not missing: left out
    changes, unplaced = canvas_import(rows, USERS, EXISTING)
    assert changes == {"ann": "2", "bob": "1.8", "cy": "0"} and unplaced == []


def test_bad_inputs_are_one_line_each(graded, tmp_path, capsys):
    code, _ = export(graded, "canvas")
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "autograder: error: --format canvas: needs --roster roster.csv, the course's students "
        "with the ids canvas knows them by")
    (tmp_path / "bad.csv").write_text("name\nAnn\n")
    code, _ = export(graded, "canvas", "--roster", str(tmp_path / "bad.csv"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("autograder: error: ") and "bad.csv: needs a `student` column" in err
    code, _ = export(graded, "csv", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "none.sqlite: no gradebook there" in err and "\n" not in err
    config = graded / "course_config.py"
    config.write_text(config.read_text().replace('"labs": [', '"missing_submission": "nil",\n            "labs": ['))
    code, _ = export(graded, "csv")
    assert code == 2 and "missing_submission: must be one of empty, zero, got 'nil'" in capsys.readouterr().err
