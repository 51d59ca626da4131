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

from autograder.authoring.student_bundle import TORCH_CPU_INDEX, build_courselib_wheel
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
    # PyTorch's CPU index is a second index students use; this machine's own index already
    # serves the CPU build, and may not reach PyTorch's, so the line is left out here.
    requirements = (folder / "requirements.txt").read_text()
    (folder / "requirements.txt").write_text(requirements.replace(f"--extra-index-url {TORCH_CPU_INDEX}\n", ""))
    install = subprocess.run(
        [str(student_python / "pip"), "install", "--quiet", "--disable-pip-version-check",
         "-r", "requirements.txt", "-r", "requirements-jupyter.txt"],
        cwd=folder, capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    # A completed notebook; its demo cells already ran at release time, so leave them out here.
    completed = nbformat.read(COURSE.solutions_dir(lab_id) / f"{lab_id}.ipynb", as_version=4)
    completed.cells = [cell for cell in completed.cells if "demo" not in cell.metadata.get("tags", [])]
    nbformat.write(completed, folder / "completed.ipynb")
    assert _execute(student_python, folder, "completed.ipynb", allow_errors=False) == []
    # The student's check runs there too, with nothing of the kit installed.
    check = subprocess.run([str(student_python / "python"), "validate.pyz", "completed.ipynb",
                            "--no-run"], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.startswith("ok: completed.ipynb"), check.stdout + check.stderr
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
    version = first.name.removeprefix("courselib-").removesuffix("-py3-none-any.whl")
    assert "courselib/__init__.py" in names and f"courselib-{version}.dist-info/RECORD" in names


def test_a_changed_courselib_is_a_new_version_that_pip_installs_over_the_old(tmp_path):
    lib = tmp_path / "courselib"
    shutil.copytree(COURSE.root / "courselib", lib, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "v1").mkdir()
    old = build_courselib_wheel(lib, tmp_path / "v1")
    (lib / "added.py").write_text("ANSWER = 42\n")
    (tmp_path / "v2").mkdir()
    new = build_courselib_wheel(lib, tmp_path / "v2")
    assert old.name != new.name and old.name.startswith("courselib-0.1.0+src.")
    metadata = zipfile.ZipFile(new).read(next(n for n in zipfile.ZipFile(new).namelist()
                                               if n.endswith("METADATA"))).decode()
    assert {f"Requires-Dist: {name}" for name in ("numpy", "scipy", "matplotlib", "torch")} <= set(
        metadata.splitlines())
    venv = tmp_path / "venv"  # a student's environment with the old courselib
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-deps",
           "--disable-pip-version-check"]  # fmt: skip
    subprocess.run([*pip, str(old)], check=True)
    subprocess.run([*pip, str(new)], check=True)  # as `pip install -r requirements.txt` does
    # What is installed, read without importing courselib (it imports torch, not installed here).
    probe = subprocess.run([str(venv / "bin/python"), "-c",
                            "import importlib.metadata as m; d = m.distribution('courselib'); "
                            "print(d.version); print(sorted(str(f) for f in d.files "
                            "if str(f).endswith('.py'))); "
                            "print(d.locate_file('courselib/__init__.py').read_text())"],
                           capture_output=True, text=True, cwd=tmp_path / "v2")  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    version = new.name.removeprefix("courselib-").removesuffix("-py3-none-any.whl")
    installed, files, init = probe.stdout.split("\n", 2)
    assert installed == version and "courselib/added.py" in files, probe.stdout
    assert f'__version__ = "{version}"' in init, "courselib.__version__ says the installed version"
