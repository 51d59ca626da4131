"""Grading on a Dask cluster (`--scheduler`): real `distributed.LocalCluster`s of two worker
processes, the real sandbox, real notebooks.

- the cluster gives the records the local pool gives for the same Lab 1 submissions (the
  solution, the blank release, a partial and a hostile one);
- a worker process killed by SIGKILL mid-submission loses nothing and duplicates nothing, and a
  submission that kills two workers is recorded as a grader fault, never a grade, which the
  next run grades again (through `autograder grade --scheduler local:2`);
- a wrong `--scheduler` is one line;
- a scheduler lost mid-batch stops it in one line, keeps what was graded, and a rerun resumes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from course_files import REPO, tiny_notebook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autograder import cli
from autograder.core.config import load_course
from autograder.core.notebook import read_notebook
from autograder.core.written import written_points
from autograder.distributed import client as client_module
from autograder.distributed.client import DaskCluster, grading_slots
from autograder.intake import collect
from autograder.judging.grading import grade_batch
from autograder.records import gradebook as gb
from autograder.records.gradebook import Gradebook

LAB1 = "lab01_rnn_from_scratch"
LAB1_SUBMISSIONS = {
    "solution": REPO / "solutions" / LAB1 / f"{LAB1}.ipynb",
    "blank": REPO / "release" / LAB1 / f"{LAB1}.ipynb",
    "partial": REPO / "examples" / LAB1 / "submitted" / "partial_student" / LAB1 / f"{LAB1}.ipynb",
    "hostile": REPO / "examples" / LAB1 / "submitted" / "hostile_student" / LAB1 / f"{LAB1}.ipynb",
}


@pytest.fixture(scope="module")
def cluster_address():
    """A real LocalCluster of two single-threaded worker processes, shared by this module (each
    declares a GPU resource, which only the slot count below uses: the grading here is on CPU)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      resources={"GPU": 1}) as cluster:  # fmt: skip
        yield cluster.scheduler_address


def _records(book: Gradebook, lab: str) -> dict[str, list[tuple]]:
    """Each student's grade as contract 3 defines it (durations and run ids aside)."""
    return {run.submission.student.student_id: [
        (r.test_id, r.question, r.points_possible, r.points_earned, r.outcome, r.message)
        for r in run.results] + [("notes", run.notebook_notes, run.sandbox, run.device)]
        for run in book.latest_runs(lab)}  # fmt: skip


@pytest.mark.slow
def test_the_cluster_gives_the_records_of_the_local_pool(tmp_path: Path, cluster_address: str):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for student, notebook in LAB1_SUBMISSIONS.items():
        shutil.copy(notebook, inbox / f"{student}.ipynb")
    course = load_course(REPO)
    submissions = collect([inbox], LAB1, course.timezone, tmp_path / "scratch")
    pool = Gradebook(f"sqlite:///{tmp_path / 'pool.sqlite'}")
    on_cluster = Gradebook(f"sqlite:///{tmp_path / 'cluster.sqlite'}")
    pool_summary = grade_batch(course, LAB1, submissions, pool, workers=2, progress=False)
    summary = grade_batch(course, LAB1, submissions, on_cluster, progress=False,
                          executor=DaskCluster(cluster_address))  # fmt: skip
    expected = _records(pool, LAB1)
    assert sorted(expected) == sorted(LAB1_SUBMISSIONS)
    assert _records(on_cluster, LAB1) == expected
    assert summary.scores == pool_summary.scores and summary.outcomes == pool_summary.outcomes
    lab = course.lab(LAB1)  # the written questions wait for a TA: the tests' points alone
    tested = lab.points - written_points(read_notebook(lab.notebook))
    assert summary.scores["solution"] == tested == 50 and summary.scores["blank"] == 0
    assert 0 < summary.scores["partial"] < summary.scores["solution"]
    assert len(summary.overheads) == len(LAB1_SUBMISSIONS)  # the per-submission figures too
    again = grade_batch(course, LAB1, submissions, on_cluster, progress=False,
                        executor=DaskCluster(cluster_address))  # fmt: skip
    assert (again.graded, again.skipped) == (0, len(LAB1_SUBMISSIONS))


def test_cpu_labs_use_every_worker_and_cuda_labs_share_gpus_as_declared(cluster_address: str):
    from distributed import Client

    with Client(cluster_address) as client:
        assert grading_slots(client, "cpu", 1.0) == 2
        assert grading_slots(client, "cuda", 1.0) == 2  # one submission per GPU
        assert grading_slots(client, "cuda", 1 / 3) == 6  # "submissions_per_gpu": 3


# The trusted side of a worker dies (SIGKILL to its own process, as the OOM killer would): eve's
# notebook kills every worker that grades it; frank's kills the first one only (the marker file
# remembers), so his submission is rescheduled on another worker and graded there.
KILLER_TEST = '''import os
import signal
from pathlib import Path

import pytest

MARKER = Path({marker!r})


@pytest.mark.question("doubling")
@pytest.mark.points(2)
def test_double(sub):
    if sub.double(1) == 999:
        os.kill(os.getpid(), signal.SIGKILL)
    if "kill_my_worker_once" in sub and not MARKER.exists():
        MARKER.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    assert sub.double(3) == 6
'''
KILLER = "def double(x):\n    return 999 if x == 1 else 2 * x\n"
INNOCENTS = ("ann", "bob", "cy", "dee")


@pytest.mark.slow
def test_dead_workers_lose_nothing_and_a_killer_is_recorded_crashed(tiny_course: Path, capsys,
                                                                    monkeypatch):  # fmt: skip
    # Two tasks per worker in flight, so that innocents wait in the queue of a worker that eve
    # kills, as they do when the scheduler places a task on a busy worker (while a dead one
    # restarts): a death must count only against the submission that was being graded.
    real_slots = client_module.grading_slots
    monkeypatch.setattr(client_module, "grading_slots",
                        lambda client, device, share: 2 * real_slots(client, device, share))
    marker = tiny_course / "frank-killed-a-worker"
    (tiny_course / "tests" / "tiny" / "test_tiny.py").write_text(KILLER_TEST.format(
        marker=str(marker)))  # fmt: skip
    inbox = tiny_course / "inbox"
    inbox.mkdir()
    for name in INNOCENTS:
        nbformat.write(tiny_notebook(), str(inbox / f"{name}.ipynb"))
    nbformat.write(tiny_notebook(KILLER), str(inbox / "eve.ipynb"))
    frank = tiny_notebook()
    frank.cells.append(nbformat.v4.new_code_cell("kill_my_worker_once = True"))
    nbformat.write(frank, str(inbox / "frank.ipynb"))
    db = f"sqlite:///{tiny_course / 'gradebook.sqlite'}"
    command = ["--course", str(tiny_course), "grade", "tiny", str(inbox), "--db", db,
               "--scheduler", "local:2"]  # fmt: skip
    # eve's crash is counted as the grader's failure (exit 4), not as a grade of zero
    assert cli.main(command) == cli.EXIT_GRADER_FAILED
    out = capsys.readouterr().out
    assert marker.exists()  # frank's first worker did die
    book = Gradebook(db)
    runs = {run.submission.student.student_id: run for run in book.latest_runs("tiny")}
    assert sorted(runs) == sorted([*INNOCENTS, "frank"])
    for name in [*INNOCENTS, "frank"]:
        assert [r.outcome for r in runs[name].results] == ["passed"], name
    (eve,) = book.faults("tiny")  # a fault, not a grade: no results, its reason kept
    assert not eve.results and "two grading workers died" in eve.fault
    assert "eve: two grading workers died" in out and "not graded because of the grader: 1" in out
    with Session(book.engine) as session:  # nothing graded twice
        assert session.scalar(select(func.count()).select_from(gb.GradingRun)) == len(runs) + 1
    assert cli.main(command) == cli.EXIT_GRADER_FAILED  # a rerun grades eve (only) again
    assert "graded 0, skipped 5" in capsys.readouterr().out


def test_a_wrong_scheduler_is_one_line(tiny_course: Path, capsys):
    inbox = tiny_course / "inbox"
    inbox.mkdir()
    nbformat.write(tiny_notebook(), str(inbox / "ann.ipynb"))
    for scheduler, reason in [("tcp://127.0.0.1:1", "no Dask scheduler answered there"),
                              ("local:0", "expected local:N"),
                              ("cluster.example.org", "expected local:N")]:  # fmt: skip
        code = cli.main(["--course", str(tiny_course), "grade", "tiny", str(inbox), "--db",
                         f"sqlite:///{tiny_course / 'gb.sqlite'}", "--scheduler", scheduler])
        err = capsys.readouterr().err
        assert code == cli.EXIT_USER_ERROR
        assert err.count("\n") == 1 and f"--scheduler {scheduler}: {reason}" in err, err
    assert not Gradebook(f"sqlite:///{tiny_course / 'gb.sqlite'}").latest_runs("tiny")


SCHEDULER_KILLER_TEST = '''import os
import signal
from pathlib import Path

import pytest

PID_FILE = Path({pid_file!r})


@pytest.mark.question("doubling")
@pytest.mark.points(2)
def test_double(sub):
    if "kill_the_scheduler" in sub and PID_FILE.exists():
        os.kill(int(PID_FILE.read_text()), signal.SIGKILL)
        PID_FILE.unlink()
    assert sub.double(3) == 6
'''


def _start_cluster(folder: Path, pid_file: Path) -> tuple[str, list]:
    """A scheduler and one worker as their own processes, as on a real cluster (the scheduler's
    pid goes to `pid_file`, for the hidden test that takes it down)."""
    import json
    import subprocess
    import sys
    import time

    scheduler_file = folder / f"scheduler-{time.monotonic_ns()}.json"
    run_module = [sys.executable, "-m"]
    scheduler = subprocess.Popen([*run_module, "distributed.cli.dask_scheduler", "--host",
                                  "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                                  "--scheduler-file", str(scheduler_file)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    worker = subprocess.Popen([*run_module, "distributed.cli.dask_worker", address, "--nthreads",
                               "1", "--nworkers", "1", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    pid_file.write_text(str(scheduler.pid))
    return address, [worker, scheduler]


@pytest.mark.slow
def test_a_lost_scheduler_stops_the_batch_in_one_line_and_a_rerun_resumes(tiny_course: Path,
                                                                          capsys):  # fmt: skip
    from distributed import Client

    pid_file = tiny_course / "scheduler.pid"
    (tiny_course / "tests" / "tiny" / "test_tiny.py").write_text(
        SCHEDULER_KILLER_TEST.format(pid_file=str(pid_file)))  # fmt: skip
    inbox = tiny_course / "inbox"
    inbox.mkdir()
    for name in ("ann", "bob"):
        nbformat.write(tiny_notebook(), str(inbox / f"{name}.ipynb"))
    zed = tiny_notebook()
    zed.cells.append(nbformat.v4.new_code_cell("kill_the_scheduler = True"))
    nbformat.write(zed, str(inbox / "zed.ipynb"))
    db = f"sqlite:///{tiny_course / 'gradebook.sqlite'}"
    processes: list = []
    try:
        address, started = _start_cluster(tiny_course, pid_file)
        processes += started
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        command = ["--course", str(tiny_course), "grade", "tiny", str(inbox), "--db", db,
                   "--scheduler", address]  # fmt: skip
        assert cli.main(command) == cli.EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "lost the scheduler" in err and "resume" in err, err
        graded = {run.submission.student.student_id for run in Gradebook(db).latest_runs("tiny")}
        assert graded == {"ann", "bob"}  # what was graded before the loss is stored
        address, started = _start_cluster(tiny_course, tiny_course / "not-this-time.pid")
        processes += started
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        command[command.index("--scheduler") + 1] = address
        assert cli.main(command) == 0
        assert "graded 1, skipped 2" in capsys.readouterr().out
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _two_lab_course(folder: Path) -> Path:
    """A course with the tiny lab and `tiny2`, whose hidden tests share a file name (each lab's
    `test_tiny.py`): pytest imports both under one module name."""
    from course_files import HIDDEN_TEST, course_config

    labs = ", ".join(f'{{"id": "{lab}", "title": "{lab}", "notebook": "source/{lab}/{lab}.ipynb",'
                     f' "release": "2026-10-01T09:00", "due": "2026-10-12T23:59", "points": 2}}'
                     for lab in ("tiny", "tiny2"))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "course_config.py").write_text(course_config(labs=labs))
    for lab in ("tiny", "tiny2"):
        (folder / "source" / lab).mkdir(parents=True, exist_ok=True)
        nbformat.write(tiny_notebook(), folder / "source" / lab / f"{lab}.ipynb")
        (folder / "tests" / lab).mkdir(parents=True, exist_ok=True)
        (folder / "tests" / lab / "test_tiny.py").write_text(
            HIDDEN_TEST.replace("def test_double", f"def test_double_{lab}"))
    (folder / "tests" / "conftest.py").write_text('pytest_plugins = ["autograder.pytest_plugin"]\n')
    (folder / "tests" / "tiny2" / "conftest.py").write_text(BROKEN_CONFTEST)
    if not (folder / "courselib").exists():
        (folder / "courselib").symlink_to(REPO / "courselib")
    (folder / "constraints.txt").write_text((REPO / "constraints.txt").read_text())
    return folder


# A lab's conftest.py that cannot be imported while a file `broken` lies beside it (both travel
# to the workers in the course bundle): a pytest session that cannot run, a fault of the grader
# on every worker. (pytest keeps what it imported: the check holds until it imports once.)
BROKEN_CONFTEST = '''import pathlib
if pathlib.Path(__file__).with_name("broken").exists():
    raise RuntimeError("a conftest.py that cannot be imported")
'''


@pytest.mark.slow
def test_a_standing_cluster_grades_command_after_command(tmp_path: Path, capsys):
    """One scheduler and one worker process stay up, as on a real cluster, while commands come
    one after the other: a lab, the same lab again with --force, another lab of the course whose
    hidden test module has the same file name, the same lab of another course folder, and a lab
    whose hidden tests cannot run (a grader fault on the worker: recorded as a fault, never a
    grade, and graded by the plain rerun once mended). Every notebook gets its own grade."""
    from distributed import Client

    first, second = _two_lab_course(tmp_path / "first"), _two_lab_course(tmp_path / "second")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("ann", "bob"):
        nbformat.write(tiny_notebook(), str(inbox / f"{name}.ipynb"))
    nbformat.write(tiny_notebook("def double(x):\n    return x + x + 1\n"), inbox / "cy.ipynb")
    processes: list = []
    try:
        address, processes = _start_cluster(tmp_path, tmp_path / "unused.pid")
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)

        def grade(course: Path, lab: str, *extra: str) -> tuple[int, dict[str, list[str]]]:
            db = f"sqlite:///{course / 'gradebook.sqlite'}"
            code = cli.main(["--course", str(course), "grade", lab, str(inbox), "--db", db,
                             "--scheduler", address, *extra])  # fmt: skip
            capsys.readouterr()
            book = Gradebook(db)
            return code, {run.submission.student.student_id: [r.outcome for r in run.results]
                          for run in book.latest_runs(lab)}  # fmt: skip

        expected = {"ann": ["passed"], "bob": ["passed"], "cy": ["failed"]}
        assert grade(first, "tiny") == (0, expected)
        assert grade(first, "tiny", "--force") == (0, expected)
        assert grade(first, "tiny2") == (0, expected)
        assert grade(second, "tiny") == (0, expected)
        (second / "tests" / "tiny2" / "broken").touch()  # not imported there yet
        code, graded = grade(second, "tiny2")
        assert code == cli.EXIT_GRADER_FAILED and graded == {}
        assert len(Gradebook(f"sqlite:///{second / 'gradebook.sqlite'}").faults("tiny2")) == 3
        (second / "tests" / "tiny2" / "broken").unlink()
        assert grade(second, "tiny2") == (0, expected)  # the plain rerun repairs the faults
    finally:
        for process in processes:
            process.kill()
            process.wait()
