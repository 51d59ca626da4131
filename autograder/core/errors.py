"""The one exception type every step's user-facing errors share.

A `UserError` is a mistake in what a person gave the kit (a command, a course file, a notebook, a
roster, an archive, a gradebook address), described in one line that names the input and what to
do. The CLI prints it and exits 2 without importing the step that raised it, so that
`autograder --help` does not wait for Dask, SQLAlchemy or nbformat.
"""


class UserError(Exception):
    """A mistake in the input, said in one line; the CLI prints it and exits 2."""


class GraderFault(Exception):
    """A failure of the grader's own machinery, not of the submission: a sandbox that cannot
    start a child, a reference notebook that fails, a pytest session that cannot run, a lost
    database or cluster worker. Never stored as a grade: retried, and if it persists recorded as
    a fault that the next plain run of the same command grades again."""
