"""Hidden tests keep plain pytest's promises across the sandbox: tests written the nbgrader way,
with `np.errstate`, `pytest.warns`, `warnings.simplefilter("error")` and `catch_warnings` around a
call, judge the submission's code as they would judge it in their own process. Graded for real:
pytest with --submission, the submission running in the sandbox."""

from __future__ import annotations

import textwrap

import nbformat
import pytest
from course_files import course_config
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.core.config import load_course
from autograder.judging.hidden_tests import run_hidden_tests

STABLE = '''
import warnings
import numpy as np


def sigmoid(n):
    """Logistic sigmoid, elementwise; never overflows."""
    n = np.asarray(n, dtype=float)
    e = np.exp(-np.abs(n))
    return np.where(n >= 0, 1 / (1 + e), e / (1 + e))


def normalise(x):
    """x scaled to sum 1; warns (UserWarning) and returns x unchanged when it sums to 0."""
    total = np.sum(x)
    if total == 0:
        warnings.warn("x sums to zero: returned unchanged", UserWarning)
        return x
    return x / total


def log_likelihood(p):
    """Sum of log(p); p must be positive (a zero is a mistake of the caller, not of this code)."""
    return float(np.sum(np.log(p)))
'''
# the classic mistakes: an overflowing sigmoid, a silent normalise
NAIVE = STABLE.replace(
    "    n = np.asarray(n, dtype=float)\n    e = np.exp(-np.abs(n))\n"
    "    return np.where(n >= 0, 1 / (1 + e), e / (1 + e))",
    "    return 1 / (1 + np.exp(-np.asarray(n, dtype=float)))",
).replace('        warnings.warn("x sums to zero: returned unchanged", UserWarning)\n', "")

# Ported as an nbgrader autograder cell would be written, with `sigmoid` read from `sub`.
HIDDEN_TESTS = '''
import warnings

import numpy as np
import pytest


@pytest.mark.question("1.1 Sigmoid")
@pytest.mark.points(1)
def test_sigmoid_never_overflows(sub):
    with np.errstate(over="raise"):
        assert np.allclose(sub.sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])


@pytest.mark.question("1.1 Sigmoid")
@pytest.mark.points(1)
def test_error_state_ends_with_the_block(sub):
    with np.errstate(over="raise"):
        sub.sigmoid(0.0)
    # outside the block NumPy's default (warn) holds again, for the submission too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.allclose(sub.sigmoid(np.array([-1000.0])), [0.0])


@pytest.mark.question("1.2 Normalise")
@pytest.mark.points(1)
def test_normalise_warns_on_zeros(sub):
    with pytest.warns(UserWarning, match="sums to zero"):
        sub.normalise(np.zeros(3))


@pytest.mark.question("1.2 Normalise")
@pytest.mark.points(1)
def test_log_of_zero_is_an_error_when_warnings_are(sub):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="divide by zero"):
            sub.log_likelihood(np.array([0.5, 0.0]))
    with np.errstate(divide="ignore"):  # and nothing at all when NumPy ignores it
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert sub.log_likelihood(np.array([0.0])) == -np.inf
'''


def notebook(code: str) -> nbformat.NotebookNode:
    cell = new_code_cell(code)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": "functions", "locked": False,
                                 "schema_version": 3, "solution": True, "task": False}  # fmt: skip
    return new_notebook(cells=[new_markdown_cell("# Context\n\n### 1.1 Sigmoid (2 points)\n\n"
                                                 "### 1.2 Normalise (2 points)"), cell])  # fmt: skip


@pytest.fixture(scope="module")
def context_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("context")
    lab = """{"id": "ctx", "title": "Context", "notebook": "source/ctx/ctx.ipynb",
              "release": "2026-10-01T09:00", "due": "2026-10-12T23:59", "points": 4}"""
    (root / "course_config.py").write_text(course_config(labs=lab))
    (root / "source" / "ctx").mkdir(parents=True)
    nbformat.write(notebook(STABLE), root / "source" / "ctx" / "ctx.ipynb")
    (root / "tests" / "ctx").mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text('pytest_plugins = ["autograder.pytest_plugin"]\n')
    (root / "tests" / "ctx" / "test_ctx.py").write_text(textwrap.dedent(HIDDEN_TESTS))
    for name, code in (("stable", STABLE), ("naive", NAIVE)):
        nbformat.write(notebook(code), root / f"{name}.ipynb")
    return root


def outcomes(root, name: str) -> dict[str, str]:
    records = run_hidden_tests(load_course(root), "ctx", root / f"{name}.ipynb")
    return {record.name: record.outcome for record in records}


def test_the_tests_pass_on_the_reference(context_course):
    records = run_hidden_tests(load_course(context_course), "ctx")
    assert {record.outcome for record in records} == {"passed"}


def test_a_careful_submission_passes_in_the_sandbox(context_course):
    assert set(outcomes(context_course, "stable").values()) == {"passed"}


def test_errstate_and_warnings_reach_the_submissions_code(context_course):
    got = outcomes(context_course, "naive")
    assert got == {
        "test_sigmoid_never_overflows": "error",  # FloatingPointError: overflow in exp
        "test_error_state_ends_with_the_block": "passed",
        "test_normalise_warns_on_zeros": "failed",  # DID NOT WARN
        "test_log_of_zero_is_an_error_when_warnings_are": "passed",
    }
