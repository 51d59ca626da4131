"""One submission never stops the batch: a grading worker that dies is recorded against that
submission alone, as a grader fault (never a grade), and every other submission is graded."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from course_files import tiny_notebook

from autograder.core.config import load_course
from autograder.intake import collect
from autograder.judging.grading import grade_batch
from autograder.records.gradebook import Gradebook

# A hidden test that takes its own grading worker down for one submission (standing in for
# whatever could kill a worker: the machine's OOM killer, a bug in a library): the trusted side
# dies, not the sandbox.
KILLER_TEST = '''import os
import signal

import pytest


@pytest.mark.question("doubling")
@pytest.mark.points(2)
def test_double(sub):
    if sub.double(1) == 999:
        os.kill(os.getpid(), signal.SIGKILL)
    assert sub.double(3) == 6
'''
KILLER = "def double(x):\n    return 999 if x == 1 else 2 * x\n"


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced_and_only_its_submission_is_charged(tiny_course: Path):
    (tiny_course / "tests" / "tiny" / "test_tiny.py").write_text(KILLER_TEST)
    inbox = tiny_course / "inbox"
    inbox.mkdir()
    for name in ("ann", "bob", "cy", "dee"):
        nbformat.write(tiny_notebook(), str(inbox / f"{name}.ipynb"))
    nbformat.write(tiny_notebook(KILLER), str(inbox / "eve.ipynb"))
    course = load_course(tiny_course)
    gradebook = Gradebook(f"sqlite:///{tiny_course / 'gradebook.sqlite'}")
    submissions = collect([inbox], "tiny", course.timezone, tiny_course / "scratch")
    summary = grade_batch(course, "tiny", submissions, gradebook, workers=2, progress=False)
    runs = {run.submission.student.student_id: run for run in gradebook.latest_runs("tiny")}
    assert sorted(runs) == ["ann", "bob", "cy", "dee"]
    for name in ("ann", "bob", "cy", "dee"):
        assert [r.outcome for r in runs[name].results] == ["passed"], name
    (eve,) = gradebook.faults("tiny")  # the grader's fault: never a grade of eve's
    assert eve.submission.student.student_id == "eve" and not eve.results
    assert "died three times" in eve.fault
    assert len(summary.faults) == 1 and summary.faults[0].startswith("eve: ")
    again = grade_batch(course, "tiny", submissions, gradebook, workers=2, progress=False)
    assert again.skipped == 4 and len(again.faults) == 1  # a plain rerun grades eve again
