"""The trusted notebook runs a pytest session shares: the reference, and the solution run as a
submission runs.

Each notebook is run once per process, so a grading worker pays for its reference once: the
judge runs it ahead of the first submission (`autograder.judging.judge.prepare`), and the pytest
plugin's `ref` fixture (`autograder.pytest_plugin`) hands out the same run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from autograder.core.config import Lab
from autograder.core.notebook import read_notebook
from autograder.judging.imported_labs import seeded_source
from autograder.sandbox.execute import NotebookRun, run_notebook

_runs: dict[tuple[str, str], NotebookRun] = {}


def notebook_run(notebook: Path, skip_tags: tuple[str, ...],
                 lab: Lab | None = None) -> NotebookRun:  # fmt: skip
    """Run a notebook once per pytest session, in a private working folder (every cell seeded
    first when the lab says so, as the grader's sandbox runs it: `Lab.cell_seed`)."""
    key = (str(notebook), ",".join(skip_tags))
    if key not in _runs:
        nb = read_notebook(notebook)
        if lab is not None and lab.cell_seed is not None:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.source = seeded_source(cell.source, lab.cell_seed, lab.cell_seed_variable)
        with tempfile.TemporaryDirectory(prefix="autograder-run-") as workdir:
            _runs[key] = run_notebook(nb, skip_tags, cwd=Path(workdir))
    return _runs[key]


# The trusted reference run also leaves out the visible checks (they only assert that the
# solution is right, as the release's executed solution notebook shows; Lab 1: 0.9 s of its
# 2.2 s) and the cells tagged `not-in-reference`: the graded data and training cells, whose
# results are the student's business (Lab 4: 26 s of every grading worker's start). A hidden
# test that reads a name only they define fails the release, which runs the tests against
# this very run.
REFERENCE_SKIP_TAGS = ("visible-check", "not-in-reference")


def reference_run(lab: Lab) -> NotebookRun:
    """The lab's reference notebook, run once per process (a grading worker runs it once)."""
    skip_tags = tuple(dict.fromkeys((*lab.skip_tags, *REFERENCE_SKIP_TAGS)))
    return notebook_run(lab.notebook, skip_tags, lab)
