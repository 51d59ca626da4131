"""The gradebook: tests digest, runs written whole or not at all, texts stored as one safe line,
roster ids, older gradebooks gaining new columns, and reports refusing a gradebook not there.
The tests taking `gradebook_url` run on SQLite and on a real PostgreSQL server (conftest.py)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import nbformat
import pytest
from course_files import course_config, tiny_notebook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autograder.core.config import load_course
from autograder.records import gradebook as gb
from autograder.records.gradebook import Gradebook, GradebookError, GradedRun


def graded(records, student="ann", sha="a" * 64):
    return GradedRun(student=student, lab="tiny", sha256=sha, filename="ann.ipynb",
                     submitted_at=None, minutes_late=0.0, late_fraction=0.0, tests_digest="d",
                     device="cpu", sandbox="bwrap", wall_s=1.0, student_s=0.5,
                     notebook_notes=["cell 2: shell command not run: !pip install x"],
                     records=records)  # fmt: skip


RECORD = {"nodeid": "tests/tiny/test_tiny.py::test_double", "name": "test_double",
          "question": "doubling", "points": 2.0, "earned": 2.0, "outcome": "passed",
          "message": "", "duration": 0.01}  # fmt: skip


def test_tests_digest_follows_tests_and_source(tiny_course):
    course = load_course(tiny_course)
    before = gb.tests_digest(course, "tiny")
    assert gb.tests_digest(course, "tiny") == before
    test_file = tiny_course / "tests" / "tiny" / "test_tiny.py"
    test_file.write_text(test_file.read_text() + "\n# changed\n")
    assert gb.tests_digest(course, "tiny") != before


def test_runs_are_written_whole_or_not_at_all(gradebook_url):
    book = Gradebook(gradebook_url)
    run_id = book.record(graded([RECORD]))
    assert book.complete_run("ann", "tiny", "a" * 64, "d", "cpu")
    assert not book.complete_run("ann", "tiny", "a" * 64, "d", "cuda")
    broken = dict(RECORD, earned="not a number")
    with pytest.raises(ValueError):
        book.record(graded([RECORD, broken], student="bob", sha="b" * 64))
    assert not book.complete_run("bob", "tiny", "b" * 64, "d", "cpu")
    runs = book.latest_runs("tiny")
    assert [run.run_id for run in runs] == [run_id]
    result = runs[0].results[0]
    assert (result.points_earned, result.outcome, result.question) == (2.0, "passed", "doubling")


def test_texts_from_a_submission_are_stored_as_one_safe_line(gradebook_url):
    book = Gradebook(gradebook_url)
    hostile = "boom\x1b[2J\x1b]0;owned\x07\x07\nScore: 50 / 50\r\n\u202eevil"
    run = graded([dict(RECORD, outcome="error", earned=0.0, message=hostile)])
    run.notebook_notes = [f"cell 3 (f): {hostile}"]
    run.filename = "inbox/\x1b[31mred.ipynb"
    book.record(run)
    stored = book.latest_runs("tiny")[0]
    assert stored.results[0].message == "boom Score: 50 / 50 evil"
    assert stored.notebook_notes == '["cell 3 (f): boom Score: 50 / 50 evil"]'
    assert stored.submission.filename == "inbox/red.ipynb"


def test_roster_ids_are_kept_until_a_roster_says_otherwise(gradebook_url):
    book = Gradebook(gradebook_url)
    first = graded([RECORD])
    first.roster, first.on_roster = {"login": "alima", "sis_id": "2026001"}, True
    book.record(first)
    book.record(graded([RECORD], sha="c" * 64))  # graded again without a roster
    student = book.latest_runs("tiny")[0].submission.student
    assert student.on_roster is True
    assert student.roster_ids() == {"login": "alima", "sis_id": "2026001", "email": "",
                                    "name": "", "lms_id": ""}


OLD_SCHEMA = """
CREATE TABLE students (id INTEGER PRIMARY KEY, student_id VARCHAR(100) UNIQUE NOT NULL);
CREATE TABLE submissions (id INTEGER PRIMARY KEY, student_pk INTEGER NOT NULL, lab VARCHAR(100)
    NOT NULL, sha256 VARCHAR(64) NOT NULL, filename TEXT NOT NULL, submitted_at DATETIME,
    minutes_late FLOAT NOT NULL, late_fraction FLOAT NOT NULL);
INSERT INTO students VALUES (1, 'ann');
INSERT INTO submissions VALUES (1, 1, 'tiny', 'aaaa', 'ann.ipynb', NULL, 0.0, 0.0);
"""


def test_an_older_gradebook_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(OLD_SCHEMA)
    book = Gradebook(f"sqlite:///{path}")
    book.record(graded([RECORD], student="bob"))
    with sqlite3.connect(path) as connection:
        columns = {row[1] for row in connection.execute("pragma table_info(students)")}
        assert {"login", "sis_id", "email", "name", "lms_id", "on_roster"} <= columns
        assert connection.execute("select time_note from submissions where id = 1").fetchone() \
            == (None,)
        assert connection.execute("select count(*) from students").fetchone() == (2,)


def test_a_closed_sqlite_gradebook_is_whole_in_its_one_file(tiny_course, tmp_path):
    # SQLite keeps recent writes in a -wal file beside the gradebook until the last connection
    # closes: a TA who copies the .sqlite file after grading must get every grade in it.
    path = tmp_path / "gb.sqlite"
    with Gradebook(f"sqlite:///{path}") as book:
        book.record(graded([RECORD]))
    wal = tmp_path / "gb.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy.sqlite"
    shutil.copy(path, copy)
    runs = Gradebook.existing(load_course(tiny_course), f"sqlite:///{copy}").latest_runs("tiny")
    assert [run.results[0].points_earned for run in runs] == [2.0]


def test_existing_refuses_a_gradebook_that_is_not_there(tiny_course, tmp_path):
    course = load_course(tiny_course)
    missing = tmp_path / "typo.sqlite"
    for url, message in [(f"sqlite:///{missing}", "no gradebook there"),
                         (None, "no gradebook there"), ("not a url", "not a database URL")]:
        with pytest.raises(GradebookError, match=message):
            Gradebook.existing(course, url)
    assert not missing.exists() and not (tiny_course / gb.DEFAULT_DB).exists()
    with sqlite3.connect(tmp_path / "other.sqlite") as connection:
        connection.execute("create table notes (x)")
    with pytest.raises(GradebookError, match="not a gradebook"):
        Gradebook.existing(course, f"sqlite:///{tmp_path / 'other.sqlite'}")
    Gradebook(f"sqlite:///{tmp_path / 'gb.sqlite'}").record(graded([RECORD]))
    assert Gradebook.existing(course, f"sqlite:///{tmp_path / 'gb.sqlite'}").latest_runs("tiny")


def test_times_read_back_as_the_same_moment(gradebook_url):
    book = Gradebook(gradebook_url)
    run = graded([RECORD])
    run.submitted_at = datetime(2026, 10, 12, 20, tzinfo=timezone(timedelta(hours=1)))
    book.record(run)
    stored = book.latest_runs("tiny")[0]
    assert stored.submission.submitted_at == datetime(2026, 10, 12, 19, tzinfo=UTC)
    assert stored.submission.submitted_at.tzinfo is not None
    assert stored.finished_at.tzinfo is not None


def test_a_database_that_is_not_there_is_one_line(tiny_course, postgresql_server):
    course = load_course(tiny_course)
    missing = postgresql_server.url("no_such_gradebook")
    with pytest.raises(GradebookError, match=r"no_such_gradebook.*: cannot be opened .*does not exist"):
        Gradebook.existing(course, missing)
    nowhere = "postgresql://ta:secret@/gradebook?host=/nonexistent-socket-folder"
    for open_it in (Gradebook, lambda url: Gradebook.existing(course, url)):
        with pytest.raises(GradebookError) as refused:
            open_it(nowhere)
        line = str(refused.value)
        assert "\n" not in line and "cannot be opened" in line and "nonexistent-socket-folder" in line
        assert "secret" not in line  # the password is never printed


def _two_lab_course(root):
    (root / "course_config.py").write_text(course_config(labs="""
        {"id": "tiny", "title": "Tiny", "notebook": "source/tiny/tiny.ipynb",
         "release": "2026-10-01T09:00", "due": "2026-10-12T23:59", "points": 2},
        {"id": "twin", "title": "Twin", "notebook": "source/twin/twin.ipynb",
         "release": "2026-10-01T09:00", "due": "2026-10-12T23:59", "points": 2}"""))
    (root / "source" / "twin").mkdir()
    shutil.copy(root / "source" / "tiny" / "tiny.ipynb", root / "source" / "twin" / "twin.ipynb")
    (root / "tests" / "twin").mkdir()
    shutil.copy(root / "tests" / "tiny" / "test_tiny.py", root / "tests" / "twin" / "test_twin.py")
    inbox = root / "inbox"
    inbox.mkdir()
    for name in ("ann", "bob", "cy"):  # the same students in both labs: their rows race
        nbformat.write(tiny_notebook(), str(inbox / f"{name}.ipynb"))
    return inbox


@pytest.mark.slow
def test_two_tas_grade_different_labs_into_one_database_at_once(tiny_course, gradebook_url):
    inbox = _two_lab_course(tiny_course)
    graders = [subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "--course", str(tiny_course), "grade", lab,
         str(inbox), "--db", gradebook_url, "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) for lab in ("tiny", "twin")]  # fmt: skip
    outputs = [grader.communicate(timeout=300)[0] for grader in graders]
    assert [grader.returncode for grader in graders] == [0, 0], outputs
    book = Gradebook(gradebook_url)
    for lab in ("tiny", "twin"):
        runs = book.latest_runs(lab)
        assert [run.submission.student.student_id for run in runs] == ["ann", "bob", "cy"], lab
        assert all([r.outcome for r in run.results] == ["passed"] for run in runs), lab
    with Session(book.engine) as session:  # nothing twice: one student row, one run per lab
        assert session.scalar(select(func.count()).select_from(gb.Student)) == 3
        assert session.scalar(select(func.count()).select_from(gb.GradingRun)) == 6
