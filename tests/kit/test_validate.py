"""`autograder validate`: the student's check, run on real notebooks of a small course against
its released notebook, in a real fresh kernel: what passes, and one line per thing to fix."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest
from course_files import SOLUTION_CELL, course_config, tiny_notebook

from autograder.authoring.release import build_student_notebook
from autograder.cli import main
from autograder.validate import (
    STUDENT_APP_MODULES,
    Limits,
    graded_names,
    static_problems,
    validate,
)

LIMITS = Limits(cell_timeout_s=20, notebook_timeout_s=60, skip_tags=("demo",))


@pytest.fixture
def released(tiny_course):
    """The tiny lab's student notebook, built by the release code, in release/tiny/."""
    blank = build_student_notebook(tiny_notebook())
    (tiny_course / "release" / "tiny").mkdir(parents=True)
    nbformat.write(blank, tiny_course / "release" / "tiny" / "tiny.ipynb")
    return blank


def student(tmp_path, solution: str = SOLUTION_CELL, extra: list[str] = ()) -> str:
    nb = tiny_notebook(solution)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return str(path)


def test_a_finished_notebook_passes_and_the_blank_one_does_not(tiny_course, released, tmp_path, capsys):
    assert graded_names(released) == {"double": "(x)"}
    assert main(["--course", str(tiny_course), "validate", student(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("ok: tiny.ipynb is ready to submit")
    blank = tiny_course / "release" / "tiny" / "tiny.ipynb"
    assert main(["--course", str(tiny_course), "validate", str(blank)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == ["tiny.ipynb: 2 things to fix before submitting:",
                   "- cell 3 (double): double still raises NotImplementedError: fill in its TODO",
                   "- cell 4: NotImplementedError"]  # the visible check cell calls it


def test_names_signatures_files_and_shell_commands(released, tmp_path):
    renamed = SOLUTION_CELL.replace("def double(x)", "def twice(x)")
    problems = static_problems(nbformat.read(student(tmp_path, renamed), 4), graded_names(released))
    assert problems == ["double(x) is missing: keep the names the notebook gives"]
    changed = SOLUTION_CELL.replace("def double(x)", "def double(x, factor=2)")
    problems = static_problems(nbformat.read(student(tmp_path, changed), 4), graded_names(released))
    assert problems == ["double(x, factor=2) should be double(x): keep the signatures the notebook gives"]
    extra = ["import numpy as np\nweights = np.load('my_weights.npy')",
             "!pip install torch\n%matplotlib inline", "with open('/home/ana/data.csv') as f:\n    pass"]
    problems = static_problems(nbformat.read(student(tmp_path, extra=extra), 4), graded_names(released))
    assert problems == [
        "cell 6: reads 'my_weights.npy', which the grader will not have (it runs your notebook alone); use courselib's datasets or build the data in the notebook",
        "cell 7: a shell command or magic (`!`, `%`): the grader does not run it; do the work in Python or remove it",
        "cell 8: reads '/home/ana/data.csv', which the grader will not have (it runs your notebook alone); use courselib's datasets or build the data in the notebook",
    ]


def test_the_notebook_runs_in_a_fresh_kernel_within_the_limits(released, tmp_path):
    (tmp_path / "my_weights.npy").write_bytes(b"")  # here beside the notebook, not for the grader
    report = validate(student(tmp_path, extra=["import numpy as np\nnp.load('my_weights.npy')"]),
                      released, LIMITS)
    assert report.problems[-1].startswith("cell 6: FileNotFoundError")
    wrong = SOLUTION_CELL.replace("2 * x", "3 * x")
    report = validate(student(tmp_path, wrong), released, LIMITS)
    assert report.problems == ["cell 4: AssertionError"]  # the visible check
    slow = ["import time\nwhile True:\n    time.sleep(0.1)"]
    report = validate(student(tmp_path, extra=slow), released,
                      Limits(cell_timeout_s=3, notebook_timeout_s=60, skip_tags=("demo",)))
    assert report.problems == ["cell 6: ran past the lab's 3 s per cell"]
    demo = tiny_notebook()
    demo.cells[-1].source = "raise RuntimeError('a demo cell is not run by the grader')"
    path = tmp_path / "demo.ipynb"
    nbformat.write(demo, path)
    assert validate(path, released, LIMITS).problems == []


def test_what_cannot_be_validated_is_one_line(tiny_course, released, tmp_path, capsys):
    broken = tmp_path / "tiny.ipynb"
    broken.write_text("{ nope")
    assert main(["--course", str(tiny_course), "validate", str(broken), "--no-run"]) == 1
    assert "not a notebook (invalid JSON" in capsys.readouterr().out
    assert main(["--course", str(tiny_course), "validate", str(tmp_path / "gone.ipynb")]) == 2
    assert capsys.readouterr().err.strip().endswith("gone.ipynb: no such file")
    other = tmp_path / "mine.ipynb"
    nbformat.write(tiny_notebook(), other)
    assert main(["--course", str(tiny_course), "validate", str(other)]) == 2
    assert "mine.ipynb: which lab is it? name it with --lab (labs: tiny)" in capsys.readouterr().err
    (tiny_course / "course_config.py").write_text(course_config())
    assert main(["--course", str(tiny_course), "validate", str(other), "--lab", "nope"]) == 2
    assert "unknown lab 'nope'" in capsys.readouterr().err


def test_students_run_the_same_check_from_the_release_folder(tiny_course, tmp_path):
    """release/<lab>/validate.pyz runs `autograder validate` without the kit or the course: here
    from a copy of the release folder, with Python's isolated mode (no cwd, no PYTHONPATH)."""
    from autograder.authoring.release import release_lab
    from autograder.core.config import load_course

    release_lab(load_course(tiny_course), "tiny", check_tests=False)
    folder = tmp_path / "student"
    shutil.copytree(tiny_course / "release/tiny", folder)
    app = zipfile.ZipFile(folder / "validate.pyz")
    assert sorted(app.namelist()) == sorted(["__main__.py", *STUDENT_APP_MODULES])

    def check(*args):
        done = subprocess.run([sys.executable, "-I", "validate.pyz", *args], cwd=folder,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    code, out = check("--no-run")  # the blank notebook, by its default name
    assert code == 1 and "- cell 3 (double): double still raises NotImplementedError" in out, out
    nbformat.write(tiny_notebook(), folder / "done.ipynb")
    code, out = check("done.ipynb")
    assert code == 0 and out.startswith("ok: done.ipynb is ready to submit"), out
    renamed = tiny_notebook(SOLUTION_CELL.replace("def double(x)", "def double(y)"))
    nbformat.write(renamed, folder / "renamed.ipynb")
    code, out = check("renamed.ipynb", "--no-run")
    assert code == 1 and "double(y) should be double(x)" in out, out
    assert check("gone.ipynb") == (2, "gone.ipynb: no such file\n")
