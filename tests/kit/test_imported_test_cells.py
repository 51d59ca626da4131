"""Test cells of imported labs run in the submission's namespace, inside the real sandbox
(`autograder.sandbox.test_cells` via `Connection.run_test_cell`), and are judged in the trusted
process as nbgrader and Otter judge them (`autograder.testing`)."""

from __future__ import annotations

import nbformat
import pytest

from autograder.judging import judge
from autograder.sandbox import Limits, Sandbox, test_cells
from autograder.testing import (
    PartialCredit,
    nbgrader_credit,
    run_nbgrader_cell,
    run_otter_doctest,
    run_otter_function,
)

LIMITS = Limits(memory_mb=1024, cpu_s=60, cell_timeout_s=3, notebook_timeout_s=30,
                test_timeout_s=2, max_processes=32, wall_factor=4)  # fmt: skip
SQUARES = "def squares(n):\n    return [i * i for i in range(1, n + 1)]"
# nbgrader's docs course, ps1 problem1: the test cell rebinds a name of the student's
USES_SQUARES = '''"""Check that sum_of_squares relies on squares."""
orig_squares = squares
del squares
try:
    sum_of_squares(1)
except NameError:
    pass
else:
    raise AssertionError("sum_of_squares does not use squares")
finally:
    squares = orig_squares'''


@pytest.fixture(scope="module")
def box():
    sandbox = Sandbox(slot=5)
    yield sandbox
    sandbox.close()


def submission(box: Sandbox, *sources: str) -> judge.RemoteNamespace:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    connection = judge.Connection(sandbox=box, payload=judge.notebook_payload(nb), skip_tags=(),
                                  seed=1, limits=LIMITS)  # fmt: skip
    return judge.RemoteNamespace(connection)


def test_a_test_cell_that_rebinds_a_name_reaches_the_students_functions(box):
    calls = submission(box, SQUARES, "def sum_of_squares(n):\n    return sum(squares(n))")
    run_nbgrader_cell(calls, USES_SQUARES, 0.5, "uses_squares")  # passes: the rebinding is seen
    assert calls.squares(2) == [1, 4]  # and the cell put it back
    copies = submission(box, SQUARES, "def sum_of_squares(n):\n    return sum(i * i for i in "
                                      "range(1, n + 1))")  # fmt: skip
    with pytest.raises(AssertionError, match="sum_of_squares does not use squares"):
        run_nbgrader_cell(copies, USES_SQUARES, 0.5, "uses_squares")
    for sub in (calls, copies):
        sub._connection.close()


def test_test_cells_read_the_students_variables_and_share_what_they_define(box):
    sub = submission(box, "a = 1")
    run_nbgrader_cell(sub, "assert a == 1\ndef helper():\n    return a + 1", 1, "bar")
    run_nbgrader_cell(sub, "assert helper() == 2", 1, "uses the helper")
    with pytest.raises(AssertionError, match="bar: AssertionError"):
        run_nbgrader_cell(sub, "assert a == 2", 1, "bar")
    sub._connection.close()


def test_nbgrader_gives_partial_credit_and_nothing_for_stderr(box):
    sub = submission(box, "import warnings")
    with pytest.raises(PartialCredit) as partial:
        run_nbgrader_cell(sub, "print('half of it')\n0.5", 1, "partial")
    assert partial.value.earned == 0.5
    run_nbgrader_cell(sub, "'done'", 1, "a value that is not a number")  # all the points
    with pytest.raises(AssertionError, match="stderr"):
        run_nbgrader_cell(sub, "warnings.warn('careful')", 1, "warns")
    sub._connection.close()
    assert nbgrader_credit([["stdout", "x"], ["result", "2"]], 1)[0] == 0  # more than its points
    assert nbgrader_credit([["result", "-1"]], 1)[0] == 1  # nbgrader: "strange", all the points


def test_a_looping_test_cell_is_interrupted_and_the_next_one_runs_in_the_same_child(box):
    sub = submission(box, "def spin():\n    while True:\n        pass", "x = 3")
    with pytest.raises(AssertionError, match="time limit"):
        run_nbgrader_cell(sub, "y = x\nspin()", 1, "loops")
    generation = sub._connection.generation
    run_nbgrader_cell(sub, "assert y == 3", 1, "after the loop")  # same child, same namespace
    assert sub._connection.generation == generation
    sub._connection.close()


def test_after_a_crash_the_earlier_test_cells_run_again_in_the_new_child(box):
    sub = submission(box, "import os\nx = 3")
    run_nbgrader_cell(sub, "def helper():\n    return x * 2", 1, "defines a helper")
    with pytest.raises(judge.SandboxCrashed):
        run_nbgrader_cell(sub, "os._exit(3)", 1, "kills the child")
    run_nbgrader_cell(sub, "assert helper() == 6", 1, "uses the helper")  # replayed first
    assert sub._connection.generation == 2
    sub._connection.close()


def test_otter_doctests_compare_outputs_here_as_doctest_does(box):
    sub = submission(box, "import numpy as np\ndef square(x):\n    return x ** 2")
    run_otter_doctest(sub, ">>> square(3) == 9\nTrue", "q1 case 1")
    run_otter_doctest(sub, ">>> print(square(2))\n4\n>>> square(1.5)\n2.25", "q1 case 2")
    with pytest.raises(AssertionError, match="shows 'np.True_'"):  # Otter's doctest fails too
        run_otter_doctest(sub, ">>> np.isclose(square(2), 4)\nTrue", "q1 case 3")
    with pytest.raises(AssertionError, match="raised"):
        run_otter_doctest(sub, ">>> square('a')\n'aa'", "q1 case 4")
    run_otter_doctest(sub, ">>> square(None)\nTraceback (most recent call last):\n...\n"
                           "TypeError: unsupported operand type(s) for ** or pow(): 'NoneType' "
                           "and 'int'", "an expected exception")  # fmt: skip
    sub._connection.close()


def test_otter_exception_tests_get_the_submissions_values_by_parameter_name(box):
    sub = submission(box, "nine = 9\ndef square(x):\n    return x * x")
    test = "def test_public(nine, square):\n    assert nine == 9\n    assert square(4) == 16"
    run_otter_function(sub, test, "test_public", "q3 case 1")
    missing = "def test_missing(ten):\n    assert ten is None"  # absent: None, as in Otter
    run_otter_function(sub, missing, "test_missing", "q3 case 2")
    with pytest.raises(AssertionError, match="q3 case 3: AssertionError"):
        run_otter_function(sub, "def test_wrong(nine):\n    assert nine == 10", "test_wrong",
                           "q3 case 3")  # fmt: skip
    sub._connection.close()


def test_the_trusted_side_accepts_only_bounded_plain_results(box):
    sub = submission(box, "x = 1")
    result = sub._run_test_cell({"style": "cell", "source": "print('y' * 10_000_000)"})
    assert test_cells.valid_result(result)
    assert sum(len(text) for _, text in result["outputs"]) <= 4 * test_cells.MAX_TEXT
    sub._connection.close()
    assert not test_cells.valid_result({"outputs": [["stdout", 3]]})
    assert not test_cells.valid_result({"outputs": [["shell", "x"]]})
    assert not test_cells.valid_result({"outputs": [], "examples": []})
    assert not test_cells.valid_result({"examples": [["got", 5]]})


def test_a_sleeping_test_cell_is_interrupted_without_a_restart(box):
    """CPU time stops a loop; the backstop against sleeping stops code that waits, inside the
    child, before the grader's own would end the sandbox (and run the notebook again)."""
    sub = submission(box, "import time\nx = 3")
    with pytest.raises(AssertionError, match="without running"):
        run_nbgrader_cell(sub, "time.sleep(60)", 1, "sleeps")  # backstop: 2 s x 4
    run_nbgrader_cell(sub, "assert x == 3", 1, "after the wait")
    assert sub._connection.generation == 1
    sub._connection.close()
