"""Grade exports for Canvas, Moodle, Gradescope and plain CSV, from a real SQLite gradebook and a
real roster file, through the CLI: final grades with the late policy applied, roster students
without a submission left empty (or zero when the course says so), withheld and unplaceable
students named, and every bad input refused in one line."""

from __future__ import annotations

import csv
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


def test_canvas_gradebook_import(graded, capsys):
    code, rows = export(graded, "canvas", "--roster", str(graded / "roster.csv"),
                        "--assignment", "Tiny lab (5521)")  # fmt: skip
    assert code == 0
    assert rows[:2] == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tiny lab (5521)"],
                        ["Points Possible", "", "", "", "", "2"]]
    assert rows[2:] == [["Lima, Ann", "101", "s1", "ann1", "", "2"],
                        ["Bob Stone", "102", "s2", "bob1", "", "1.8"],
                        ["Cy Dale", "", "s3", "", "", ""],
                        ["Fay Ng", "106", "s6", "fay1", "", ""]]
    out = capsys.readouterr().out
    assert "(4 students)" in out
    assert "withheld (submission time unknown), left empty: fay" in out
    assert "graded but not on the roster, left out: eve" in out
    assert "no lms_id or sis_id or login on the roster, left out: dee" in out


def test_moodle_gradescope_and_plain_csv(graded):
    roster = ["--roster", str(graded / "roster.csv")]
    code, rows = export(graded, "moodle", *roster)
    assert code == 0
    assert rows == [["Email address", "ID number", "Tiny lab"], ["ann@x.edu", "s1", "2"],
                    ["bob@x.edu", "s2", "1.8"], ["", "s3", ""], ["fay@x.edu", "s6", ""]]
    code, rows = export(graded, "gradescope", *roster)
    assert rows[0] == ["Name", "SID", "Email", "Total Score"]
    assert rows[1:3] == [["Lima, Ann", "s1", "ann@x.edu", "2"], ["Bob Stone", "s2", "bob@x.edu", "1.8"]]
    code, rows = export(graded, "csv", *roster)
    by_student = {row[0]: row for row in rows[1:]}
    assert rows[0] == ["student", "login", "sis_id", "email", "name", "lms_id", "final", "possible", "status"]
    assert by_student["dee"][-3:] == ["", "2", "no submission"]
    assert by_student["eve"][-3:] == ["1", "2", "graded, not on the roster"]
    assert by_student["fay"][-3:] == ["", "2", "withheld: submission time unknown"]
    code, rows = export(graded, "csv")  # without a roster: the graded students
    assert sorted(row[0] for row in rows[1:]) == ["ann", "bob", "eve", "fay"]


def test_missing_submissions_count_zero_when_the_course_says_so(graded):
    config = graded / "course_config.py"
    config.write_text(config.read_text().replace('"labs": [', '"missing_submission": "zero",\n            "labs": ['))
    code, rows = export(graded, "moodle", "--roster", str(graded / "roster.csv"))
    assert code == 0 and ["", "s3", "0"] in rows
    assert ["fay@x.edu", "s6", ""] in rows  # withheld is not missing


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
