"""The one exception type every step's user-facing errors share.

A `UserError` is a mistake in what a person gave the kit (a command, a course file, a notebook, a
roster, an archive, a gradebook address), described in one line that names the input and what to
do. The CLI prints it and exits 2 without importing the step that raised it, so that
`autograder --help` does not wait for Dask, SQLAlchemy or nbformat.
"""


class UserError(Exception):
    """A mistake in the input, said in one line; the CLI prints it and exits 2."""
