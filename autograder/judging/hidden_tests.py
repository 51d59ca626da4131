"""Run a lab's hidden tests with pytest and read back one record per test.

pytest runs in a child process so that each run starts clean (fresh imports, fresh notebook
namespaces); the records come back through the plugin's `--results-json` file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.core.config import CONFIG_FILE, ConfigError, Course
from autograder.core.errors import UserError
from autograder.core.notebook import read_notebook
from autograder.core.written import WrittenQuestionError, written_points


class HiddenTestsError(UserError):
    """pytest could not run the hidden tests (a broken test file, a missing folder)."""


@dataclass(frozen=True)
class TestRecord:
    nodeid: str
    name: str
    question: str
    points: float
    earned: float
    outcome: str  # passed, failed, error, skipped, not run
    message: str
    duration: float
    # an imported test that the original tool passes on every notebook (`passes_on_blank`)
    passes_on_blank: bool = False

    __test__ = False  # not a pytest test class


# pytest's plugins that hidden tests never use: each one costs every session its registration
# and every test its hooks. Plugins installed in the environment are not loaded either
# (PYTEST_ENV); a course that wants one names it in tests/conftest.py's `pytest_plugins`.
UNUSED_PLUGINS = ("cacheprovider", "doctest", "junitxml", "pastebin", "stepwise", "faulthandler",
                  "setuponly", "setupplan", "debugging")  # fmt: skip
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def pytest_arguments(course: Course, lab_id: str, results: Path) -> list[str]:
    """How every run of a lab's hidden tests calls pytest (here and in the grading workers),
    with PYTEST_ENV in its environment."""
    unused = [argument for name in UNUSED_PLUGINS for argument in ("-p", f"no:{name}")]
    return [str(course.tests_dir(lab_id)), "-q", *unused,
            "--rootdir", str(course.root), "--results-json", str(results)]  # fmt: skip


def pytest_failure(output: str, lab_id: str) -> str:
    """One line from pytest's output saying why it could not run a lab's tests: the usage error
    or the first collection error, not whatever line came last (often "rootdir: ...")."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    usage = [line for line in lines if ": error: " in line]
    collected = [line for line in lines if line.startswith("ERROR ") and " - " in line]
    raised = [line.removeprefix("E").strip() for line in lines if line.startswith("E   ")]
    found = (usage or collected or raised or lines[-1:] or ["no output"])[0]
    if usage and ("--results-json" in found or "--submission" in found):
        return (f"pytest could not run tests/{lab_id}: the kit's plugin is not loaded ({found}); "
                "tests/conftest.py needs: pytest_plugins = [\"autograder.pytest_plugin\"]")
    return f"pytest could not run tests/{lab_id}: {found[:300]}"


def run_hidden_tests(
    course: Course,
    lab_id: str,
    submission: Path | None = None,
    collect_only: bool = False,
    timeout_s: float | None = None,
) -> list[TestRecord]:
    tests_dir = course.tests_dir(lab_id)
    if not tests_dir.is_dir():
        raise HiddenTestsError(f"no hidden tests for {lab_id}: {tests_dir} does not exist")
    with tempfile.TemporaryDirectory(prefix="autograder-tests-") as scratch:
        results = Path(scratch) / "results.json"
        command = [sys.executable, "-m", "pytest", *pytest_arguments(course, lab_id, results)]
        if submission is not None:
            command += ["--submission", str(Path(submission).resolve())]
        if collect_only:
            command.append("--collect-only")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **PYTEST_ENV}
        try:
            done = subprocess.run(
                command, cwd=course.root, capture_output=True, text=True, env=env,
                timeout=timeout_s,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise HiddenTestsError(
                f"the hidden tests of {lab_id} ran past {timeout_s:.0f} s"
            ) from None
        if done.returncode not in (0, 1) or not results.exists():
            raise HiddenTestsError(pytest_failure(done.stdout + done.stderr, lab_id))
        return [TestRecord(**record) for record in json.loads(results.read_text())]


def check_points(course: Course, lab_id: str, records: list[TestRecord] | None = None) -> float:
    """Raise a ConfigError unless the hidden tests' points and the written questions' points
    (`autograder.core.written`) add up to the lab's total.

    `records`: the tests as collected (`collect_only`), when the caller has them already.
    """
    lab = course.lab(lab_id)
    if records is None:
        records = run_hidden_tests(course, lab_id, collect_only=True)
    tested = sum(record.points for record in records)
    unmarked = [record.name for record in records if record.points <= 0]
    if unmarked:
        raise ConfigError(f"tests/{lab_id}: tests without a points marker: {', '.join(unmarked)}")
    try:
        written = written_points(read_notebook(lab.notebook))
    except WrittenQuestionError as error:
        raise ConfigError(f"{lab.notebook.relative_to(course.root)}: {error}") from None
    if abs(tested + written - lab.points) > 1e-9:
        raise ConfigError(
            f"{CONFIG_FILE}: {lab.config_key}.points: {lab.points:.12g}, but the hidden tests in "
            f"tests/{lab_id} add up to {tested:.12g}"
            + (f" and the written questions to {written:.12g}" if written else "")
        )
    return tested + written
