"""Turn a failed hidden test into a verdict and a message a student can read.

The message says what was wrong in plain words and never shows the hidden test's source: pytest's
rewritten `assert` expressions are replaced by a neutral sentence, tracebacks are left out.
"""

from __future__ import annotations

from typing import Any

import pytest

from autograder.core.errors import GraderFault
from autograder.judging.submission_errors import SubmissionRaised
from autograder.sandbox import SandboxError

MAX_MESSAGE = 300


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:MAX_MESSAGE]


def student_message(excinfo: Any, test_name: str) -> tuple[str, str]:
    """(outcome, message) for a test that did not pass.

    The outcome is "failed" (a wrong answer), "error" (the student's code raised), "timeout" or
    "crashed" (the sandbox ran out of time or stopped; the message says why), or "fault" (the
    grader itself failed: no grade is kept, see `autograder.core.errors.GraderFault`).
    """
    if excinfo is None:
        return "error", "the test could not be set up"
    error = excinfo.value

    if isinstance(error, SandboxError):  # crashed, timeout: the sandbox says what happened
        return error.kind, _first_line(error.message)
    if isinstance(error, GraderFault):  # the grader's own failure: never the student's grade
        return "fault", _first_line(str(error))
    if isinstance(error, SubmissionRaised):
        return "error", _first_line(f"your code raised {error.type_name}: {error}")
    if isinstance(error, pytest.fail.Exception):
        return "failed", _first_line(str(error.msg))
    if isinstance(error, NotImplementedError):
        return "failed", "not implemented yet: the function still raises NotImplementedError"
    if isinstance(error, AssertionError):
        line = _first_line(str(error))
        if not line or line.startswith("assert "):
            # A bare assert: pytest's rewritten expression would reveal the hidden test.
            line = f"a hidden check failed ({test_name.split('[')[0].removeprefix('test_')})"
        return "failed", line
    return "error", _first_line(f"your code raised {type(error).__name__}: {error}")


def fail_missing_name(label: str, name: str) -> None:
    """Fail the running test because the notebook never defined `name`."""
    pytest.fail(
        f"the {label} does not define `{name}`: keep the names given in the TODO cells and "
        "make sure the cell that defines it runs without errors",
        pytrace=False,
    )
