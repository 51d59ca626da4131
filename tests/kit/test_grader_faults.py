"""No fault of the grader's own machinery is ever stored as a student's grade, and a plain rerun
of the same command repairs what a fault left.

With the real parts: a real PostgreSQL gradebook that restarts in the middle of a batch (and one
that stays down), a pytest session that cannot run, and a sandbox that cannot start a
submission's child. The cluster's faults (a worker that dies, a second and third command on a
standing cluster) are in test_cluster_grading.py and test_batch_faults.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import nbformat
import pytest
from course_files import tiny_notebook

from autograder import cli
from autograder.core.config import load_course
from autograder.intake import collect
from autograder.judging.grading import grade_batch
from autograder.records.gradebook import RETRY_PAUSES_S, Gradebook

STUDENTS = ("ann", "bob", "cy", "dee", "eve")

# The hidden test of the tiny lab, held for the one notebook that defines HOLD until the file
# `gate` exists: the tests below take the database down while that notebook (cy's, the third)
# is being graded, so that storing its result meets the database down.
GATED_TEST = '''import time
from pathlib import Path

import pytest


@pytest.mark.question("doubling")
@pytest.mark.points(2)
def test_double(sub):
    if "HOLD" in sub:
        deadline = time.monotonic() + 120
        while not Path({gate!r}).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sub.double(3) == 6
'''
HELD = "cy"


def inbox_of(course: Path) -> Path:
    inbox = course / "inbox"
    inbox.mkdir(exist_ok=True)
    for name in STUDENTS:
        notebook = tiny_notebook()
        if name == HELD:
            notebook.cells.append(nbformat.v4.new_code_cell("HOLD = True"))
        nbformat.write(notebook, str(inbox / f"{name}.ipynb"))
    return inbox


def graded_outcomes(book: Gradebook) -> dict[str, list[str]]:
    return {run.submission.student.student_id: [r.outcome for r in run.results]
            for run in book.latest_runs("tiny")}  # fmt: skip


@pytest.mark.slow
def test_a_database_restart_mid_batch_loses_and_fakes_nothing(tiny_course: Path,
                                                              postgresql_server):
    """The server restarts (3 s down) while a result is being stored: the store waits for it,
    reconnects and writes; every notebook gets exactly its own grade."""
    gate = tiny_course / "gate"
    (tiny_course / "tests" / "tiny" / "test_tiny.py").write_text(
        GATED_TEST.format(gate=str(gate)))
    inbox = inbox_of(tiny_course)
    course = load_course(tiny_course)
    url = postgresql_server.new_database()
    book = Gradebook(url)
    submissions = collect([inbox], "tiny", course.timezone, tiny_course / "scratch")

    def restart_when_two_are_stored() -> None:
        deadline = time.monotonic() + 300
        while len(graded_outcomes(book)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        postgresql_server.pause()  # the third notebook is being graded, held at the gate
        gate.touch()  # it finishes while the database is down
        time.sleep(3)
        postgresql_server.resume()

    restarter = threading.Thread(target=restart_when_two_are_stored)
    restarter.start()
    try:
        summary = grade_batch(course, "tiny", submissions, book, workers=1, progress=False)
    finally:
        restarter.join()
    assert not summary.faults and not summary.stopped, (summary.faults, summary.stopped)
    assert graded_outcomes(Gradebook(url)) == {name: ["passed"] for name in STUDENTS}
    rerun = grade_batch(course, "tiny", submissions, Gradebook(url), workers=1, progress=False)
    assert (rerun.graded, rerun.skipped) == (0, len(STUDENTS))


@pytest.mark.slow
def test_a_database_that_stays_down_stops_the_batch_and_a_rerun_goes_on(
        tiny_course: Path, postgresql_server, capsys):  # fmt: skip
    """Down for longer than the writes are retried: the batch stops in one line, stores no
    grade it did not make, and the same command run again grades what is left."""
    gate = tiny_course / "gate"
    (tiny_course / "tests" / "tiny" / "test_tiny.py").write_text(
        GATED_TEST.format(gate=str(gate)))
    inbox = inbox_of(tiny_course)
    url = postgresql_server.new_database()
    book = Gradebook(url)
    command = ["--course", str(tiny_course), "grade", "tiny", str(inbox), "--db", url,
               "--workers", "1"]  # fmt: skip

    stopped_grading = threading.Event()

    def stay_down() -> None:
        deadline = time.monotonic() + 300
        while len(graded_outcomes(book)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        postgresql_server.pause()
        gate.touch()
        # down until the command has given up (past every retry of the store), at most this long
        stopped_grading.wait(sum(RETRY_PAUSES_S) + 120)
        postgresql_server.resume()

    downer = threading.Thread(target=stay_down)
    downer.start()
    try:
        started = time.monotonic()
        code = cli.main(command)
        gave_up_after = time.monotonic() - started
    finally:
        stopped_grading.set()
        downer.join()
    assert gave_up_after > sum(RETRY_PAUSES_S)  # the writes were retried for the whole window
    out = capsys.readouterr().out
    assert code == cli.EXIT_GRADER_FAILED
    stopped = [line for line in out.splitlines() if line.startswith("stopped: ")]
    assert len(stopped) == 1 and "the gradebook stopped answering" in stopped[0], out
    assert "--force" not in out and "Traceback" not in out and "OperationalError\n" not in out
    stored = graded_outcomes(Gradebook(url))
    assert 2 <= len(stored) < len(STUDENTS)
    assert all(outcomes == ["passed"] for outcomes in stored.values()), stored
    assert cli.main(command) == 0  # a plain rerun grades the rest
    assert graded_outcomes(Gradebook(url)) == {name: ["passed"] for name in STUDENTS}


BROKEN_CONFTEST = '''import pathlib
pytest_plugins = ["autograder.pytest_plugin"]
if pathlib.Path(__file__).with_name("broken").exists():
    raise RuntimeError("a conftest.py that cannot be imported")
'''


@pytest.mark.slow
def test_a_pytest_session_that_cannot_run_is_a_fault_and_a_rerun_repairs_it(tiny_course: Path):
    """The hidden tests cannot even be collected (a broken conftest.py): no grade is stored,
    the summary names every notebook, and once the cause is gone a plain rerun grades them."""
    (tiny_course / "tests" / "conftest.py").write_text(BROKEN_CONFTEST)
    inbox = inbox_of(tiny_course)
    course = load_course(tiny_course)
    book = Gradebook(f"sqlite:///{tiny_course / 'gb.sqlite'}")
    submissions = collect([inbox], "tiny", course.timezone, tiny_course / "scratch")
    (tiny_course / "tests" / "broken").touch()
    summary = grade_batch(course, "tiny", submissions, book, workers=2, progress=False)
    assert summary.graded == 0 and len(summary.faults) == len(STUDENTS)
    assert all("cannot be imported" in fault for fault in summary.faults), summary.faults
    assert not book.latest_runs("tiny")  # nothing stored as anyone's grade
    assert sorted(run.submission.student.student_id for run in book.faults("tiny")) == \
        sorted(STUDENTS)
    (tiny_course / "tests" / "broken").unlink()
    rerun = grade_batch(course, "tiny", submissions, book, workers=2, progress=False)
    assert rerun.graded == len(STUDENTS) and not rerun.faults and not book.faults("tiny")
    assert graded_outcomes(book) == {name: ["passed"] for name in STUDENTS}


@pytest.mark.slow
def test_a_sandbox_that_cannot_start_a_child_is_a_fault_never_a_grade(tiny_course: Path):
    """A memory limit too small for the sandbox's own harness: every child dies before any
    student code runs. That is the grader's failure: retried in a fresh sandbox, then recorded as
    a fault; with the limit mended, a plain rerun grades every notebook."""
    config = tiny_course / "course_config.py"
    original = config.read_text()
    config.write_text(original.replace('"memory_mb": 2048', '"memory_mb": 1'))
    inbox = inbox_of(tiny_course)
    course = load_course(tiny_course)
    book = Gradebook(f"sqlite:///{tiny_course / 'gb.sqlite'}")
    submissions = collect([inbox], "tiny", course.timezone, tiny_course / "scratch")
    summary = grade_batch(course, "tiny", submissions[:2], book, workers=1, progress=False)
    assert summary.graded == 0 and len(summary.faults) == 2, summary.faults
    assert all("could not start the submission's process" in fault for fault in summary.faults)
    assert not book.latest_runs("tiny")
    config.write_text(original)
    course = load_course(tiny_course)
    rerun = grade_batch(course, "tiny", submissions, book, workers=1, progress=False)
    assert rerun.graded == len(STUDENTS) and not rerun.faults
    assert graded_outcomes(book) == {name: ["passed"] for name in STUDENTS}
