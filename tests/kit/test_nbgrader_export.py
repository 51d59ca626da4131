"""`autograder export nbgrader`: a lab as an nbgrader course folder, checked with real nbgrader.

nbgrader's own `generate_assignment` must accept the exported source and give students the same
code as the kit's release; `nbgrader validate` must pass on the source (the solution).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from course_files import SOLUTION_CELL, tiny_notebook

from autograder.authoring.release import plan_release
from autograder.cli import main
from autograder.core.config import load_course

NBGRADER = Path(sys.executable).parent / "nbgrader"
NO_TODO = '''def triple(x):
    """Three times x."""
    ### BEGIN SOLUTION
    return 3 * x
    ### END SOLUTION'''


def _nbgrader(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{NBGRADER.parent}:{os.environ['PATH']}"}  # it runs alembic
    return subprocess.run([str(NBGRADER), *args], cwd=folder, capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


def test_nbgrader_releases_the_exported_lab_as_the_kit_does(tiny_course, tmp_path, capsys):
    nb = tiny_notebook()
    extra = nbformat.v4.new_code_cell(NO_TODO)
    extra.metadata["nbgrader"] = {"grade": False, "grade_id": "triple", "locked": False,
                                  "schema_version": 3, "solution": True, "task": False}  # fmt: skip
    nb.cells.insert(3, extra)
    nbformat.write(nb, tiny_course / "source/tiny/tiny.ipynb")
    out = tmp_path / "nbgrader-course"
    assert main(["--course", str(tiny_course), "export", "nbgrader", "tiny", "--out", str(out)]) == 0
    assert f"wrote {out}: an nbgrader course folder" in capsys.readouterr().out
    source = nbformat.read(out / "source/tiny/tiny.ipynb", as_version=4)
    assert "The lab is worth 2 points." in source.cells[0].source, "settings filled in"
    assert "### BEGIN SOLUTION" in source.cells[2].source

    generated = _nbgrader(out, "generate_assignment", "tiny", "--force")
    assert generated.returncode == 0, generated.stderr[-2000:]
    released = nbformat.read(out / "release/tiny/tiny.ipynb", as_version=4)
    kit = plan_release(load_course(tiny_course), "tiny").student
    assert [c.source for c in released.cells if c.cell_type == "code"] == [
        c.source for c in kit.cells if c.cell_type == "code"]
    assert "raise NotImplementedError()" in released.cells[2].source
    assert "# TODO: your code here" in released.cells[3].source, "the kit's generic TODO"
    for name in ("validate.pyz", "requirements.txt", "README.md"):
        assert (out / "release/tiny" / name).is_file(), f"{name} goes to students with nbgrader"

    validated = _nbgrader(out, "validate", "source/tiny/tiny.ipynb")
    assert validated.returncode == 0 and "Success!" in validated.stdout, validated.stdout[-2000:]


def test_the_exported_source_keeps_every_solution_line():
    from autograder.exports.nbgrader_course import nbgrader_source_cell

    exported = nbgrader_source_cell(SOLUTION_CELL, "cell 2")
    assert exported.splitlines() == [
        "def double(x):", '    """Twice x."""', "    # TODO: multiply x by two.",
        "    ### BEGIN SOLUTION", "    result_of_doubling_the_input = 2 * x",
        "    return result_of_doubling_the_input", "    ### END SOLUTION"]  # fmt: skip
