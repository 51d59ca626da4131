"""Write the made-here submissions of the import fixtures (see README.md): for each assignment, the
original tool's own student notebook (nbgrader's `generate_assignment`, `otter assign`) filled in
six ways: solution, blank, wrong, raising, looping, syntax_error.

    .venv/bin/python tests/kit/import_fixtures/build_submissions.py

Run again after changing an answer below; the notebooks are committed under submissions/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
OUT = HERE / "submissions"
VARIANTS = ("solution", "blank", "wrong", "raising", "looping", "syntax_error")

# ------------------------------------------------------------------ nbgrader: answers by grade_id

SQUARES = '''def squares(n):
    """Compute the squares of numbers from 1 to n, such that the
    ith element of the returned list equals i^2.

    """
    if n < 1:
        raise ValueError("n must be greater than or equal to 1")
    return [i ** 2 for i in range(1, n + 1)]'''
SUM_OF_SQUARES = '''def sum_of_squares(n):
    """Compute the sum of the squares of numbers from 1 to n."""
    return sum(squares(n))'''
PS1 = {
    "solution": {
        "squares": SQUARES, "sum_of_squares": SUM_OF_SQUARES,
        "sum_of_squares_application": "def pyramidal_number(n):\n    return sum_of_squares(n)",
        "sum_of_squares_equation": "$\\sum_{i=1}^n i^2$",
        "cell-d3df8cd59fd0eb74": "my_dictionary = {'one': 1, 'two': 2, 'three': 3}",
    },
    "blank": {},
    # no ValueError and an off-by-one; a sum that does not call squares
    "wrong": {
        "squares": "def squares(n):\n    return [i ** 2 for i in range(n)]",
        "sum_of_squares": "def sum_of_squares(n):\n    return sum(i * i for i in range(1, n + 1))",
    },
    "raising": {
        "squares": "def squares(n):\n    raise RuntimeError('not finished')",
        "sum_of_squares": SUM_OF_SQUARES,
    },
    "looping": {
        "squares": "def squares(n):\n    while True:\n        pass",
        "sum_of_squares": SUM_OF_SQUARES,
    },
    "syntax_error": {
        "squares": "def squares(n)\n    return [i ** 2 for i in range(1, n + 1)]",
        "sum_of_squares": SUM_OF_SQUARES,
    },
}  # fmt: skip
P1 = {
    "solution": {"set_a": "a = 1", "baz": "An answer!", "quux": "b = 2"},
    "blank": {},
    "wrong": {"set_a": "a = 2"},
    "raising": {"set_a": "a = int('one')"},
    "looping": {"set_a": "while True:\n    pass\na = 1"},
    "syntax_error": {"set_a": "a = = 1"},
}


def run(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True, capture_output=True,
                   env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd)})  # fmt: skip


def nbgrader_release(course: Path, assignment: str, header: bool = False) -> Path:
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "x"\n')
    command = [str(BIN / "nbgrader"), "generate_assignment", assignment, "--force"]
    if header:
        command.append("--IncludeHeaderFooter.header=source/header.ipynb")
    run(command, course)
    return course / "release" / assignment


def filled_by_grade_id(notebook: Path, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def build_nbgrader(work: Path) -> None:
    docs = work / "docs"
    shutil.copytree(HERE / "nbgrader-docs", docs)
    for assignment in ("ps1", "ps1_autotest"):
        released = nbgrader_release(docs, assignment, header=True)
        for variant in VARIANTS:
            folder = OUT / assignment / variant / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(filled_by_grade_id(released / "problem1.ipynb", PS1[variant]),
                           str(folder / "problem1.ipynb"))  # fmt: skip
            shutil.copyfile(released / "problem2.ipynb", folder / "problem2.ipynb")
    apps = work / "apps"
    (apps / "source" / "ps1").mkdir(parents=True)
    shutil.copyfile(HERE / "nbgrader-apps" / "submitted-changed.ipynb",
                    apps / "source" / "ps1" / "p1.ipynb")  # fmt: skip
    released = nbgrader_release(apps, "ps1")
    for variant in VARIANTS:
        folder = OUT / "p1" / variant / "ps1"
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(filled_by_grade_id(released / "p1.ipynb", P1[variant]),
                       str(folder / "p1.ipynb"))  # fmt: skip


# ------------------------------------------------------------------ Otter: answers in cell order

FIBERATOR = "def fiberator():\n    yield 0\n    yield 1\n    x, y = 0, 1\n    while True:\n" \
            "        x, y = y, x + y\n        yield y"  # fmt: skip
ICE_CREAM = '''data = pd.DataFrame({
    "flavor": ["chocolate", "vanilla", "chocolate", "strawberry", "strawberry", "vanilla", "mint",
               "mint", "chocolate"],
    "scoops": [1, 1, 2, 1, 3, 2, 1, 2, 3],
    "price": [2, 1.5, 3, 2, 4, 2, 4, 5, 5]
})
price_by_flavor = data.groupby("flavor").HOW()["price"]
price_by_flavor'''
DEMO = {
    "solution": ["def square(x):\n    return x**2", FIBERATOR, ICE_CREAM.replace("HOW", "mean"),
                 "price_by_flavor.plot.bar();"],
    "blank": [],
    "wrong": ["def square(x):\n    return 2 * x",
              "def fiberator():\n    x = 0\n    while True:\n        yield x\n        x += 1",
              ICE_CREAM.replace("HOW", "sum")],
    "raising": ["def square(x):\n    raise ValueError('not finished')",
                "def fiberator():\n    raise ValueError('not finished')\n    yield 0",
                "data = pd.read_csv('ice_cream.csv')\nprice_by_flavor = data['price']"],
    "looping": ["def square(x):\n    while True:\n        pass", FIBERATOR,
                ICE_CREAM.replace("HOW", "mean")],
    "syntax_error": ["def square(x)\n    return x**2", FIBERATOR, ICE_CREAM.replace("HOW", "mean")],
}  # fmt: skip
CIRCLE = """pi = 3.14
if True:
    radius = 3
    area = radius * pi * pi
    print('A circle with radius', radius, 'has area', area)

def circumference(r):
    return 2 * pi * r"""
SQUARE_NINE = "def square(x):\n    y = x * x\n    return y\n\nnine = square(3)"
EXAMPLE = {  # x, the q2 plot, square and nine, the circle, z (and for `example`: add, s)
    "solution": ["x = 2", "plt.plot(x);", SQUARE_NINE, CIRCLE, "z = np.random.normal(4, 2, 10)\nz",
                 "def add(a, b):\n    return a + b", "s = add(1, 2)"],
    "blank": [],
    "wrong": ["x = 4", "plt.plot(x);", "def square(x):\n    return x + x\n\nnine = square(3)",
              CIRCLE, "z = np.random.normal(4, 2, 9)\nz", "def add(a, b):\n    return a - b",
              "s = add(1, 2)"],
    "raising": ["x = int('two')", "plt.plot(x);",
                "def square(x):\n    raise ValueError('not finished')\n\nnine = square(3)",
                CIRCLE, "z = np.random.normal(4, 2, 'ten')\nz",
                "def add(a, b):\n    raise ValueError('not finished')", "s = add(1, 2)"],
    "looping": ["x = 2", "plt.plot(x);",
                "def square(x):\n    while True:\n        pass\n\nnine = square(3)", CIRCLE,
                "z = np.random.normal(4, 2, 10)\nz", "def add(a, b):\n    return a + b",
                "s = add(1, 2)"],
    "syntax_error": ["x = 2", "plt.plot(x);", "def square(x)\n    return x * x\n\nnine = square(3)",
                     CIRCLE, "z = np.random.normal(4, 2, 10)\nz",
                     "def add(a, b):\n    return a + b", "s = add(1, 2)"],
}  # fmt: skip


def otter_student(master: Path, out: Path) -> Path:
    run([str(BIN / "otter"), "assign", "--no-run-tests", "--no-pdfs", master.name, str(out)],
        master.parent)  # fmt: skip
    return out / "student" / master.name


def filled_in_order(notebook: Path, answers: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.read(str(notebook), as_version=4)
    answer_cells = [cell for cell in nb.cells if cell.cell_type == "code"
                    and "otter_answer_cell" in cell.metadata.get("tags", [])]  # fmt: skip
    for cell, answer in zip(answer_cells, answers):
        cell.source = answer
    return nb


def build_otter(work: Path) -> None:
    tutorial = work / "tutorial"
    shutil.copytree(HERE / "otter-tutorial", tutorial)
    assign_dir = work / "test_assign"
    shutil.copytree(HERE / "otter-test-assign", assign_dir)
    for name, master, answers in (("demo", tutorial / "demo.ipynb", DEMO),
                                  ("example", assign_dir / "example.ipynb", EXAMPLE),
                                  ("exception-example", assign_dir / "exception-example.ipynb",
                                   EXAMPLE)):  # fmt: skip
        student = otter_student(master, work / f"dist-{name}")
        for variant in VARIANTS:
            (OUT / name).mkdir(parents=True, exist_ok=True)
            nbformat.write(filled_in_order(student, answers[variant]),
                           str(OUT / name / f"{variant}.ipynb"))  # fmt: skip


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="import-fixtures-") as work:
        build_nbgrader(Path(work))
        build_otter(Path(work))
    print(f"wrote {sum(1 for _ in OUT.rglob('*.ipynb'))} notebooks under {OUT}")


if __name__ == "__main__":
    main()
