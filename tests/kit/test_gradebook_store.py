"""The gradebook: late policy, tests digest, and runs written whole or not at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autograder import gradebook as gb
from autograder.config import load_course
from autograder.gradebook import Gradebook, GradedRun, late_penalty


def graded(records, student="ann", sha="a" * 64):
    return GradedRun(student=student, lab="tiny", sha256=sha, filename="ann.ipynb",
                     submitted_at=None, minutes_late=0.0, late_fraction=0.0, tests_digest="d",
                     device="cpu", sandbox="bwrap", wall_s=1.0, student_s=0.5,
                     notebook_notes=["cell 2: shell command not run: !pip install x"],
                     records=records)  # fmt: skip


RECORD = {"nodeid": "tests/tiny/test_tiny.py::test_double", "name": "test_double",
          "question": "doubling", "points": 2.0, "earned": 2.0, "outcome": "passed",
          "message": "", "duration": 0.01}  # fmt: skip


def test_late_policy(tiny_course):
    course = load_course(tiny_course)  # grace 0, 10 % per started day, at most 3 days
    due = course.lab("tiny").due
    assert late_penalty(course, "tiny", None) == (0.0, 0.0)
    assert late_penalty(course, "tiny", due - timedelta(hours=1))[1] == 0.0
    assert late_penalty(course, "tiny", due + timedelta(minutes=1))[1] == pytest.approx(0.1)
    assert late_penalty(course, "tiny", due + timedelta(days=1, minutes=1))[1] == pytest.approx(0.2)
    assert late_penalty(course, "tiny", due + timedelta(days=3, minutes=1))[1] == 1.0


def test_tests_digest_follows_tests_and_source(tiny_course):
    course = load_course(tiny_course)
    before = gb.tests_digest(course, "tiny")
    assert gb.tests_digest(course, "tiny") == before
    test_file = tiny_course / "tests" / "tiny" / "test_tiny.py"
    test_file.write_text(test_file.read_text() + "\n# changed\n")
    assert gb.tests_digest(course, "tiny") != before


def test_runs_are_written_whole_or_not_at_all(tmp_path):
    book = Gradebook(f"sqlite:///{tmp_path / 'gb.sqlite'}")
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
