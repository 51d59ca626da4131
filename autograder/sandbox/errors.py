"""What the sandbox raises: each error names the test outcome it stands for (`kind`)."""

from __future__ import annotations

from autograder.core.errors import GraderFault, UserError


class SandboxError(UserError):
    """The sandbox stopped or misbehaved; `kind` is the test outcome, `message` safe to show."""

    kind = "crashed"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SandboxCrashed(SandboxError):
    kind = "crashed"


class SandboxTimeout(SandboxError):
    kind = "timeout"


class SandboxLimit(SandboxError):
    """The student's code hit a limit the sandbox survives (memory): an error, not a crash."""

    kind = "error"


class SandboxUnavailable(SandboxError, GraderFault):
    """The sandbox could not start, or could not start a submission's child: the grader's fault,
    never the student's (see `autograder.core.errors.GraderFault`)."""

    kind = "fault"
