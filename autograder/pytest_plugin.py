"""The pytest side of hidden tests: fixtures, markers and per-test records.

Hidden tests are plain pytest files under `tests/<lab>/`. This plugin gives them
- `ref`: the reference namespace, built in this (trusted) process from the source notebook;
- `sub`: the submission's namespace (`--submission PATH`), or without it the solution, run
  as a submission runs (every cell but the lab's skip_tags);
- `rng`: a `numpy.random.Generator` seeded per lab, term and test (the seed is not published);
- `reference_answer`: a reference answer that depends only on `ref` and `rng`, computed once
  per grading worker (a training run paid for the first submission, not for each);
- `device`: the grading device ("cpu" or "cuda"); `tol`: tolerances that know dtype and device;
- markers `points(n)`, `question(name)` and `passes_on_blank(reason)`; and `--results-json FILE`,
  one record per test (a test that raises `autograder.testing.PartialCredit` earns part of its
  points).
"""

from __future__ import annotations

import copy
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder.core.config import Course, load_course
from autograder.core.errors import GraderFault
from autograder.judging.feedback import fail_missing_name, student_message
from autograder.judging.reference import notebook_run, reference_run
from autograder.judging.tolerance import ToleranceHelper
from autograder.sandbox.execute import NotebookRun
from autograder.testing import PartialCredit

DEVICE_ENV = "COURSELIB_DEVICE"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder")
    group.addoption(
        "--submission", default=None, help="grade this notebook (default: the reference)"
    )
    group.addoption("--results-json", default=None, help="write one record per hidden test here")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): points a hidden test is worth")
    config.addinivalue_line("markers", "question(name): the question a hidden test belongs to")
    config.addinivalue_line("markers", "passes_on_blank(reason): a test the original tool of an "
                            "imported lab passes on every notebook; the release accepts it passing "
                            "on the blank one")
    if config.getoption("--results-json"):
        config.pluginmanager.register(ResultsRecorder(Path(config.getoption("--results-json"))))


class Namespace:
    """Attribute access to a notebook's names; a missing name fails the test with a clear reason."""

    def __init__(self, run: NotebookRun, label: str):
        self._run = run
        self._label = label

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._run.namespace[name]
        except KeyError:
            self._missing(name)

    def _missing(self, name: str) -> None:
        fail_missing_name(self._label, name)

    def __contains__(self, name: str) -> bool:
        return name in self._run.namespace

    def _run_test_cell(self, request: dict) -> dict:
        """A test cell of an imported lab, run in this (trusted) notebook's namespace."""
        from autograder.sandbox import test_cells

        return test_cells.run(request, self._run.globals)


def lab_of(path: Path, course: Course) -> str:
    for folder in path.parents:
        if folder.parent == course.root / "tests" and folder.name in course.labs:
            return folder.name
    raise pytest.UsageError(f"{path} is not inside tests/<lab> for a lab of course_config.py")


@pytest.fixture(scope="session")
def course(request: pytest.FixtureRequest) -> Course:
    return load_course(Path(request.config.rootpath))


@pytest.fixture(scope="module")
def lab_id(request: pytest.FixtureRequest, course: Course) -> str:
    return lab_of(Path(request.path), course)


class ReferenceNamespace(Namespace):
    """`ref`: a name the reference notebook lacks is the lab's fault, not the student's."""

    def _missing(self, name: str) -> None:
        raise GraderFault(f"the reference notebook does not define `{name}` (a mistake in the "
                          "lab, not in the submission)")


@pytest.fixture(scope="module")
def ref(course: Course, lab_id: str) -> Namespace:
    try:
        run = reference_run(course.lab(lab_id))
    except Exception as error:  # noqa: BLE001 - the lab's reference cannot run: the grader's fault
        raise GraderFault(f"the reference notebook could not run ({type(error).__name__}: "
                          f"{str(error)[:200]})") from None
    return ReferenceNamespace(run, "reference notebook")


@pytest.fixture(scope="module")
def sub(request: pytest.FixtureRequest, course: Course, lab_id: str, ref: Namespace) -> Any:
    """With --submission the submission running in the sandbox; else the solution, run here
    as a submission runs."""
    submission = request.config.getoption("--submission")
    if not submission:
        # the solution as a submission runs: every cell but the lab's skip_tags (the graded
        # training included, which the lean reference run of `ref` leaves out)
        lab = course.lab(lab_id)
        return Namespace(notebook_run(lab.notebook, lab.skip_tags, lab), "reference notebook")
    from autograder.judging import judge

    device = os.environ.get(DEVICE_ENV, "cpu")
    connection = judge.connect(course, lab_id, Path(submission).resolve(), device)
    connection.current()  # runs the notebook now: a crash here fails the module's tests
    return judge.RemoteNamespace(connection)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Each test gets the lab's test_timeout_s of CPU time for its calls into the sandbox."""
    from autograder.judging import judge

    judge.begin_test()
    try:
        yield
    finally:
        judge.end_test()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from autograder.judging import judge

    judge.finish_session()


_reference_answers: dict[tuple, Any] = {}


@pytest.fixture
def reference_answer(request: pytest.FixtureRequest, course: Course, lab_id: str):
    """`reference_answer(key, compute)`: what `compute()` returns, computed once per grading
    worker and handed out as a deep copy (a test may change it freely).

    For a reference answer that costs time (a training run) and depends only on the reference
    and on `rng` (the same draws for every submission of a lab and term): the reference runs it
    for the first submission a worker grades, not for every one. Never for anything the
    submission gave: `compute` must not touch `sub`.
    """

    def answer(key: str, compute: Any) -> Any:
        where = (str(course.root), lab_id, course.seed(lab_id), request.node.nodeid, key)
        if where not in _reference_answers:
            _reference_answers[where] = compute()
        return copy.deepcopy(_reference_answers[where])

    return answer


@pytest.fixture
def rng(request: pytest.FixtureRequest, course: Course, lab_id: str) -> np.random.Generator:
    # One stream per test, so a test's inputs do not depend on which other tests ran first.
    return np.random.default_rng([course.seed(lab_id), zlib.crc32(request.node.name.encode())])


@pytest.fixture(scope="session")
def device() -> str:
    return os.environ.get(DEVICE_ENV, "cpu")


@pytest.fixture
def tol(course: Course, lab_id: str, device: str) -> ToleranceHelper:
    return ToleranceHelper(course.lab(lab_id), device)


def points_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("points")
    return float(marker.args[0]) if marker and marker.args else 0.0


def question_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("question")
    if marker and marker.args:
        return str(marker.args[0])
    return Path(str(item.fspath)).stem.removeprefix("test_")


class ResultsRecorder:
    """Writes one JSON record per collected test: question, points, outcome and a safe message."""

    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self.started: dict[str, float] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            points = points_of(item)
            self.records[item.nodeid] = {
                "nodeid": item.nodeid,
                "name": item.name,
                "question": question_of(item),
                "points": points,
                "earned": 0.0,
                "outcome": "not run",
                "message": "",
                "duration": 0.0,
            }
            if item.get_closest_marker("passes_on_blank"):
                self.records[item.nodeid]["passes_on_blank"] = True

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.started[nodeid] = time.perf_counter()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        record = self.records.get(item.nodeid)
        if record is None or (report.when != "call" and not report.failed and not report.skipped):
            return
        record["duration"] = round(time.perf_counter() - self.started.get(item.nodeid, 0.0), 3)
        if report.passed:
            record.update(outcome="passed", earned=record["points"], message="")
        elif call.excinfo is not None and isinstance(call.excinfo.value, PartialCredit):
            # a test of an imported lab that earned part of its points, as nbgrader gives them
            earned = min(max(float(call.excinfo.value.earned), 0.0), record["points"])
            _, message = student_message(call.excinfo, item.name)
            record.update(outcome="passed" if earned >= record["points"] else "failed",
                          earned=earned, message=message)
        elif report.skipped:
            record.update(outcome="skipped", message="skipped: " + _skip_reason(report))
        else:
            kind, message = student_message(call.excinfo, item.name)
            record.update(outcome=kind, earned=0.0, message=message)

    def pytest_sessionfinish(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(list(self.records.values()), indent=1))


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return "condition not met"
