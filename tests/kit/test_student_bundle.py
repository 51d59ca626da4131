"""What students receive is self-contained: release/<lab>/ plus one pip command runs the notebook.

A fresh virtual environment outside the repository installs release/<lab>/requirements.txt and
executes the notebook there with Jupyter's own nbconvert: the completed notebook (the solution,
without its demo cells) must run without errors, and the blank one must fail only because of the
TODO stubs.
"""

import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from autograder.authoring.student_bundle import build_courselib_wheel
from autograder.core.config import load_course

pytestmark = pytest.mark.slow
COURSE = load_course()


@pytest.fixture(scope="module")
def student_python(tmp_path_factory):
    venv = tmp_path_factory.mktemp("student") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv / "bin"


def _execute(bin_dir, folder, notebook, allow_errors):
    command = [str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
               "--output", "executed.ipynb", "--ExecutePreprocessor.timeout=900", notebook]
    if allow_errors:
        command.append("--allow-errors")
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(folder)})
    assert done.returncode == 0, done.stderr[-2000:]
    executed = json.loads((folder / "executed.ipynb").read_text())
    return [output["ename"] for cell in executed["cells"] for output in cell.get("outputs", [])
            if output.get("output_type") == "error"]


@pytest.mark.parametrize("lab_id", list(COURSE.labs))
def test_release_folder_installs_and_runs_in_a_clean_environment(lab_id, student_python, tmp_path):
    folder = tmp_path / lab_id
    shutil.copytree(COURSE.release_dir(lab_id), folder)
    install = subprocess.run(
        [str(student_python / "pip"), "install", "--quiet", "--disable-pip-version-check",
         "-r", "requirements.txt"], cwd=folder, capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    # A completed notebook; its demo cells already ran at release time, so leave them out here.
    completed = nbformat.read(COURSE.solutions_dir(lab_id) / f"{lab_id}.ipynb", as_version=4)
    completed.cells = [cell for cell in completed.cells if "demo" not in cell.metadata.get("tags", [])]
    nbformat.write(completed, folder / "completed.ipynb")
    assert _execute(student_python, folder, "completed.ipynb", allow_errors=False) == []
    errors = _execute(student_python, folder, f"{lab_id}.ipynb", allow_errors=True)
    # Stubs raise NotImplementedError; a name a stubbed cell never defined (an answer constant)
    # is a NameError in the check after it. Anything else (a missing module) is a broken release.
    assert "NotImplementedError" in errors and set(errors) <= {"NotImplementedError", "NameError"}, errors


def test_courselib_wheel_is_reproducible(tmp_path):
    first = build_courselib_wheel(COURSE.root / "courselib", tmp_path)
    data = first.read_bytes()
    (tmp_path / "again").mkdir()
    second = build_courselib_wheel(COURSE.root / "courselib", tmp_path / "again")
    assert second.read_bytes() == data
    names = zipfile.ZipFile(first).namelist()
    assert "courselib/__init__.py" in names and "courselib-0.1.0.dist-info/RECORD" in names
