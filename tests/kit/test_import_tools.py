"""`autograder import nbgrader` and `import otter` graded side by side with the original tools: an
assignment made with nbgrader's own `generate_assignment` (and one with `otter assign`), the same
submissions graded by `nbgrader autograde` (and `otter grade`/`otter run`) and by the kit after the
import; every student gets the same score from both."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.authoring.import_nbgrader import read_nbgrader

BIN = Path(sys.executable).parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
                               # nbgrader runs `alembic`, Otter `jupyter`, from the PATH
                               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


def kit_scores(course: Path, lab: str, submissions: Path) -> dict[str, float]:
    """Grade with the kit's CLI and read each student's total from its grades.csv."""
    autograder = [sys.executable, "-m", "autograder.cli"]
    run([*autograder, "release", lab], course)  # hidden tests pass on the solution, fail on stubs
    run([*autograder, "grade", lab, str(submissions), "--workers", "1"], course)
    run([*autograder, "report", lab], course)
    with open(course / "reports" / lab / "grades.csv") as grades:
        return {row["student"]: float(row["total"]) for row in csv.DictReader(grades)}


def new_kit_course(root: Path) -> Path:
    run([sys.executable, "-m", "autograder.cli", "init", str(root)], root.parent)
    return root


# ------------------------------------------------------------------ nbgrader


def nbgrader_cell(cell, **settings):
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False,
                                 "schema_version": 3, "task": False, **settings}  # fmt: skip
    return cell


NBGRADER_SOURCE = [
    new_markdown_cell("# Problem set 1\n\n## Part A (3 points)\n\nWrite `squares(n)`."),
    nbgrader_cell(new_code_cell("import numpy as np"), grade_id="imports", locked=True),
    nbgrader_cell(new_code_cell(
        'def squares(n):\n    """The first n squares, 1 to n**2, as a list."""\n'
        "    ### BEGIN SOLUTION\n    return [i * i for i in range(1, n + 1)]\n"
        "    ### END SOLUTION"), grade_id="squares", solution=True),
    nbgrader_cell(new_code_cell("assert squares(1) == [1]\nassert squares(3) == [1, 4, 9]"),
                  grade_id="correct_squares", grade=True, points=1, locked=True),
    nbgrader_cell(new_code_cell(
        "assert squares(0) == []\n### BEGIN HIDDEN TESTS\nassert squares(10)[-1] == 100\n"
        "### END HIDDEN TESTS"), grade_id="squares_edge", grade=True, points=2, locked=True),
    new_markdown_cell("## Part B (2 points)\n\nWrite `softplus(x)`, stable for large |x|."),
    nbgrader_cell(new_code_cell(
        'def softplus(x):\n    """log(1 + exp(x)) elementwise, without overflow."""\n'
        "    ### BEGIN SOLUTION\n    x = np.asarray(x, dtype=float)\n"
        "    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))\n    ### END SOLUTION"),
        grade_id="softplus", solution=True),
    nbgrader_cell(new_code_cell(
        '### BEGIN HIDDEN TESTS\nwith np.errstate(over="raise"):\n'
        "    assert np.allclose(softplus(np.array([-1000.0, 0.0, 1000.0])), "
        "[0.0, np.log(2), 1000.0])\n### END HIDDEN TESTS"),
        grade_id="softplus_stable", grade=True, points=2, locked=True),
]  # fmt: skip

# What each student writes in each solution cell (absent: the stub is left as released).
NBGRADER_ANSWERS = {
    "ann": {"squares": "def squares(n):\n    return [i * i for i in range(1, n + 1)]",
            "softplus": "def softplus(x):\n    x = np.asarray(x, dtype=float)\n"
                        "    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))"},
    # an off-by-one for n = 0 and the textbook softplus, which overflows at x = 1000
    "bob": {"squares": "def squares(n):\n    return [i * i for i in range(1, n + 1)] or [0]",
            "softplus": "def softplus(x):\n    return np.log(1 + np.exp(x))"},
    "cy": {},
}  # fmt: skip


def filled_in(released: Path, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(str(released), as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


@pytest.fixture(scope="module")
def nbgrader_course(tmp_path_factory) -> Path:
    """A real nbgrader course: the assignment generated by nbgrader, three submissions."""
    root = tmp_path_factory.mktemp("nbgrader")
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "rnn"\n')
    (root / "source" / "ps1").mkdir(parents=True)
    nbformat.write(new_notebook(cells=NBGRADER_SOURCE, metadata={"kernelspec": KERNELSPEC}),
                   str(root / "source" / "ps1" / "ps1.ipynb"))  # fmt: skip
    run([str(BIN / "nbgrader"), "generate_assignment", "ps1", "--force"], root)
    for student, answers in NBGRADER_ANSWERS.items():
        folder = root / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(filled_in(root / "release" / "ps1" / "ps1.ipynb", answers),
                       str(folder / "ps1.ipynb"))  # fmt: skip
    return root


def nbgrader_scores(root: Path) -> dict[str, float]:
    run([str(BIN / "nbgrader"), "autograde", "ps1", "--create", "--force"], root)
    run([str(BIN / "nbgrader"), "export", "--to", str(root / "grades.csv")], root)
    with open(root / "grades.csv") as grades:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(grades)}


def test_nbgrader_import_keeps_solutions_points_and_questions(nbgrader_course):
    lab = read_nbgrader(nbgrader_course / "source" / "ps1")
    assert lab.lab_id == "ps1" and lab.points == 5
    assert [(t.question, t.points) for t in lab.tests] == [
        ("1.1 correct_squares", 1), ("1.2 squares_edge", 2), ("1.3 softplus_stable", 2)]
    assert lab.student_names == {"squares", "softplus"}
    sources = [cell.source for cell in lab.notebook.cells]
    assert sum("### BEGIN SOLUTION" in source for source in sources) == 2
    assert not any("HIDDEN TESTS" in source or "squares(10)" in source for source in sources)
    assert "## Part A [3 points]" in sources[0]  # not a question heading of the kit any more


def test_nbgrader_and_the_kit_give_the_same_scores(nbgrader_course, tmp_path):
    course = new_kit_course(tmp_path / "course")
    run([sys.executable, "-m", "autograder.cli", "import", "nbgrader",
         str(nbgrader_course / "source" / "ps1")], course)  # fmt: skip
    original = nbgrader_scores(nbgrader_course)
    assert original == {"ann": 5.0, "bob": 1.0, "cy": 0.0}  # the tool itself, as a baseline
    assert kit_scores(course, "ps1", nbgrader_course / "submitted") == original


# ------------------------------------------------------------------ Otter


def raw(text: str):
    return nbformat.v4.new_raw_cell(text)


OTTER_MASTER = [
    raw("# ASSIGNMENT CONFIG\nname: hw1\nexport_cell: false\ninit_cell: true\n"
        "check_all_cell: false\nrun_tests: true\ngenerate: true"),
    new_markdown_cell("# Homework 1"),
    new_code_cell("import numpy as np"),
    raw("# BEGIN QUESTION\nname: q1\npoints: 2"),
    new_markdown_cell("**Question 1.** Write `squares(n)`: the first n squares as a list."),
    raw("# BEGIN SOLUTION"),
    new_code_cell("def squares(n):\n    # BEGIN SOLUTION\n    return [i * i for i in range(1, n + 1)]\n"
                  "    # END SOLUTION"),
    raw("# END SOLUTION"),
    raw("# BEGIN TESTS"),
    new_code_cell("squares(3) == [1, 4, 9]"),
    new_code_cell("# HIDDEN\nsquares(0)"),
    raw("# END TESTS"),
    raw("# END QUESTION"),
    raw("# BEGIN QUESTION\nname: q2\npoints: 3"),
    new_markdown_cell("**Question 2.** Set `mean_sq` to the mean of the squares of `data`."),
    new_code_cell("data = np.array([1.0, 2.0, 3.0])"),
    raw("# BEGIN SOLUTION"),
    new_code_cell("mean_sq = float(np.mean(data ** 2)) # SOLUTION"),
    raw("# END SOLUTION"),
    raw("# BEGIN TESTS"),
    new_code_cell('""" # BEGIN TEST CONFIG\npoints: 1\n""" # END TEST CONFIG\n'
                  "isinstance(mean_sq, float)"),
    new_code_cell('""" # BEGIN TEST CONFIG\nhidden: true\npoints: 2\n""" # END TEST CONFIG\n'
                  "round(mean_sq, 4)"),
    raw("# END TESTS"),
    raw("# END QUESTION"),
]  # fmt: skip

# Cells are found by how they start in Otter's student notebook.
OTTER_ANSWERS = {
    "ann": {"def squares": "def squares(n):\n    return [i * i for i in range(1, n + 1)]",
            "mean_sq": "mean_sq = float(np.mean(data ** 2))"},
    # squares(0) is wrong; a NumPy scalar shows np.float64(4.6667) where 4.6667 is expected
    "bob": {"def squares": "def squares(n):\n    return [i * i for i in range(1, n + 1)] or [0]",
            "mean_sq": "mean_sq = np.mean(data ** 2)"},
    "cy": {},
}  # fmt: skip


@pytest.fixture(scope="module")
def otter_assignment(tmp_path_factory) -> Path:
    """A master notebook run (its test cells' outputs are Otter's expected outputs) and assigned
    by `otter assign`; the submissions filled in from Otter's student notebook."""
    root = tmp_path_factory.mktemp("otter")
    master = root / "hw1.ipynb"
    nbformat.write(new_notebook(cells=OTTER_MASTER, metadata={"kernelspec": KERNELSPEC}),
                   str(master))  # fmt: skip
    run([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace",
         str(master)], root)  # fmt: skip
    run([str(BIN / "otter"), "assign", str(master), str(root / "dist")], root)
    for student, answers in OTTER_ANSWERS.items():
        nb = nbformat.read(str(root / "dist" / "student" / "hw1.ipynb"), as_version=4)
        for cell in nb.cells:
            for start, code in answers.items():
                if cell.cell_type == "code" and cell.source.startswith(start):
                    cell.source = code
        (root / "submissions").mkdir(exist_ok=True)
        nbformat.write(nb, str(root / "submissions" / f"{student}.ipynb"))
    return root


def otter_scores(root: Path) -> dict[str, float]:
    """`otter run` with the autograder zip `otter assign` made: each student's total."""
    autograder_zip = next((root / "dist" / "autograder").glob("hw1-autograder_*.zip"))
    scores = {}
    for notebook in sorted((root / "submissions").glob("*.ipynb")):
        out = root / "results" / notebook.stem
        out.mkdir(parents=True)
        run([str(BIN / "otter"), "run", "-a", str(autograder_zip), "-o", str(out),
             str(notebook)], root)  # fmt: skip
        tests = json.loads((out / "results.json").read_text())["tests"]
        scores[notebook.stem] = float(sum(test.get("score") or 0 for test in tests))
    return scores


def test_otter_and_the_kit_give_the_same_scores(otter_assignment, tmp_path):
    course = new_kit_course(tmp_path / "course")
    run([sys.executable, "-m", "autograder.cli", "import", "otter",
         str(otter_assignment / "hw1.ipynb")], course)  # fmt: skip
    tests = (course / "tests" / "hw1" / "test_hw1.py").read_text()
    assert tests.count("@pytest.mark.points(1)") == 3 and tests.count("@pytest.mark.points(2)") == 1
    original = otter_scores(otter_assignment)
    assert original == {"ann": 5.0, "bob": 2.0, "cy": 0.0}  # the tool itself, as a baseline
    assert kit_scores(course, "hw1", otter_assignment / "submissions") == original
    shutil.rmtree(otter_assignment / "results")
