"""What the submission's own code did wrong, as the judge raises it and feedback words it.

Its own module, so that the judge (which raises these) and feedback (which turns them into
messages) do not import each other.
"""

from __future__ import annotations


class SubmissionRaised(Exception):
    """An exception raised by the student's code inside the sandbox (type name kept)."""

    def __init__(self, type_name: str, message: str):
        super().__init__(message)
        self.type_name = type_name


class MissingName(Exception):
    """The submission does not define a name a hidden test asked for."""
