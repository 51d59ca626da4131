"""Hostile and broken submissions, graded end to end in one batch with correct ones.

For each case of tests/hostile/hostile_cases.py: the grader does not crash, the batch completes,
the correct submissions keep full marks, and the verdict and message are the expected ones.
The course is a copy of the real one with short time limits, so that endless loops cost seconds.
`AUTOGRADER_NO_BWRAP=1` grades the same batch with limits only (the isolation cases then skip).
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.config import load_course
from autograder.gradebook import Gradebook
from autograder.grading import grade_batch
from autograder.intake import collect

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "hostile"))

from hostile_cases import ANY, LAB  # noqa: E402
from hostile_cases import cases as all_cases  # noqa: E402


def cases():
    """All cases, or those named in $HOSTILE_CASES (comma-separated, for debugging one)."""
    wanted = {name for name in os.environ.get("HOSTILE_CASES", "").split(",") if name}
    return [case for case in all_cases() if not wanted or case.name in wanted]

EXTREMES = "test_sigmoid_is_stable_at_extremes"


def make_course(root: Path, **limits: object) -> Path:
    """A copy of the course (Lab 1 only) with its limits replaced by `limits`."""
    data = runpy.run_path(str(REPO / "course_config.py"))["COURSE"]
    data["defaults"].update(limits)
    data["labs"] = [lab for lab in data["labs"] if lab["id"] == LAB]
    root.mkdir(parents=True, exist_ok=True)
    (root / "course_config.py").write_text(f"COURSE = {data!r}\n")
    for part in (f"source/{LAB}", f"tests/{LAB}", f"solutions/{LAB}"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "tests" / "conftest.py", root / "tests" / "conftest.py")
    return root


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("hostile")
    root = make_course(base / "course", cell_timeout_s=6, notebook_timeout_s=90,
                       test_timeout_s=8, memory_mb=2048)  # fmt: skip
    course = load_course(root)
    inbox = base / "inbox"
    inbox.mkdir()
    solution = nbformat.read(str(root / "solutions" / LAB / f"{LAB}.ipynb"), as_version=4)
    db_path = base / "gradebook.sqlite"
    secrets = [str(p) for p in (
        root / "tests" / LAB / "test_lab01_simple_rnn.py", root / "source" / LAB / f"{LAB}.ipynb",
        root / "solutions" / LAB / f"{LAB}.ipynb", root / "course_config.py", db_path,
        inbox / "perfect.ipynb", REPO / "tests" / LAB / "lab01_helpers.py",
        REPO / "course_config.py",
    )]  # fmt: skip
    targets = [str(root / "pwned.txt"), str(inbox / "pwned.txt"), str(REPO / "pwned.txt"),
               "/etc/pwned.txt", str(Path.home() / "pwned.txt")]  # fmt: skip
    for target in targets:  # left by an earlier run that had no sandbox to stop it
        Path(target).unlink(missing_ok=True)
    context = {"secrets": secrets, "targets": targets}
    for case in cases():
        case.build(solution, inbox / f"{case.name}.ipynb", context)
    gradebook = Gradebook(f"sqlite:///{db_path}")
    submissions = collect([inbox], LAB, course.timezone, base)
    summary = grade_batch(course, LAB, submissions, gradebook, workers=2, progress=False)
    runs = {run.submission.student.student_id: run for run in gradebook.latest_runs(LAB)}
    return summary, runs, targets


@pytest.mark.slow
def test_batch_completes_with_every_submission(graded):
    summary, runs, targets = graded
    assert sorted(runs) == sorted(case.name for case in cases())
    assert summary.outcomes.get("grader error", 0) == 0
    for target in targets:
        assert not Path(target).exists(), f"a submission wrote {target}"


@pytest.mark.slow
@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_verdict(graded, case):
    _, runs, _ = graded
    run = runs[case.name]
    if case.isolated_only and run.sandbox != "bwrap":
        pytest.skip("graded with limits only: no filesystem or network isolation to test")
    total = sum(result.points_earned for result in run.results)
    by_name = {result.name: result for result in run.results}
    described = "; ".join(f"{r.name}: {r.outcome}: {r.message}" for r in run.results
                          if r.outcome != "passed")[:2000]  # fmt: skip
    if case.total == ANY:
        assert all(case.message in r.message for r in run.results if r.outcome != "passed"), (
            described)
    elif case.total is None:
        assert total < 50, described
    else:
        assert total == case.total, described
    if case.outcome:
        assert by_name[EXTREMES].outcome == case.outcome, described
    if case.message and case.total != ANY:
        messages = [by_name[EXTREMES].message] if case.outcome else [
            r.message for r in run.results]
        assert any(case.message in message for message in messages), described
    if case.note:
        assert case.note in run.notebook_notes, run.notebook_notes
    for result in run.results:
        assert "def test_" not in result.message and "assert " not in result.message
