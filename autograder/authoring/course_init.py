"""`autograder init <folder>` and `autograder new-lab <id>`: a course, or a lab, that releases and
grades as it comes, following the kit's conventions (see README, "Instructor's guide").

A new course holds
    course_config.py     the course, with comments on every setting; the salt is read from
    seed_salt.txt        a random secret, never committed (see .gitignore)
    .gitignore           keeps source/, tests/, solutions/, the salt and the gradebook out of git:
                         the course repository is what students may see, release/ included
    tests/conftest.py    loads the kit's pytest plugin (the `sub`, `ref`, `rng`, `tol` fixtures)
    courselib/           the library notebooks import: a copy of the kit's own, which the grader
                         and the sandbox import (students get it as a wheel with each release)
    constraints.txt      exact versions of the grading environment; students' requirements.txt
                         are pinned from it
    source/example/, tests/example/   an example lab: one question, its hidden tests, a demo cell
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import secrets
import shutil
import textwrap
from datetime import date, timedelta
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.core.config import CONFIG_FILE, ConfigError

KIT_ROOT = Path(__file__).resolve().parents[2]
LAB_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
SALT_FILE = "seed_salt.txt"


class InitError(ConfigError):
    """A course or lab that cannot be created as asked (one line: what and what to do)."""


COURSE_CONFIG = '''"""The course: labs, dates, points, limits, tolerances and the grading policy.

Plain data, checked when any `autograder` command loads it (a mistake is named by its field).
Lab entries override the `defaults` of the same name. Numbers that students read in a lab's text
come from here: write {{{{points}}}}, {{{{due}}}} or {{{{constants.<name>}}}} in a Markdown cell and
the release fills them in (see the README's instructor's guide).
"""

from pathlib import Path

COURSE = {{
    "name": {name!r},
    "term": {term!r},
    "timezone": "UTC",  # deadlines and submission times are read in this time zone
    # Mixed into every hidden-test seed so that students cannot reproduce the graders' inputs.
    # It lives in {salt_file} (kept out of git by .gitignore); write a new one each term.
    "seed_salt": (Path(__file__).parent / {salt_file!r}).read_text().strip(),
    "late_policy": {{
        "grace_minutes": 15,
        "penalty_per_day": 0.10,  # fraction of the lab's points per started day late
        "max_days_late": 5,  # later than this earns zero
    }},
    "defaults": {{
        "cell_timeout_s": 120,  # CPU seconds for one notebook cell when grading
        "notebook_timeout_s": 900,  # CPU seconds for the whole notebook
        "test_timeout_s": 60,  # CPU seconds for one hidden test's calls into the submission
        "memory_mb": 4096,  # memory of the sandbox that runs a submission
        "skip_tags": ["demo"],  # cells with these tags run in Jupyter, never when grading
        # Relative and absolute tolerances of the `tol` fixture, per device and dtype.
        "tolerances": {{
            "cpu": {{
                "float64": {{"rtol": 1e-7, "atol": 1e-10}},
                "float32": {{"rtol": 1e-5, "atol": 1e-6}},
            }},
            "cuda": {{
                "float64": {{"rtol": 1e-6, "atol": 1e-9}},
                "float32": {{"rtol": 1e-4, "atol": 1e-5}},
            }},
        }},
    }},
    # One entry per lab: `autograder new-lab <id>` and `autograder import ...` add them here.
    "labs": [
    ],
}}
'''

GITIGNORE = """\
# The course repository is what students may see. Keep the instructor's material out of it
# (back it up in a private repository of its own): solutions, hidden tests, their salt.
/source/
/tests/
/solutions/
/seed_salt.txt
# Grading output: grades and feedback are personal data.
/gradebook.sqlite
/reports/
/dist/
__pycache__/
.ipynb_checkpoints/
"""

CONFTEST = '''"""The kit's pytest plugin: the `sub`, `ref`, `rng`, `device` and `tol` fixtures
and the `points` and `question` markers of the hidden tests in tests/<lab>/."""

pytest_plugins = ["autograder.pytest_plugin"]
'''

COURSE_README = """# {name}

Made with `autograder init`. Each lab is `source/<lab>/<lab>.ipynb` (the notebook with its
solutions) and `tests/<lab>/` (hidden tests); `course_config.py` holds dates, points and limits.

    autograder release example          student notebook in release/example/, solution run
    autograder check                    hidden tests on the reference solutions
    autograder grade example subs/      grade a folder of submitted notebooks
    autograder report example           grades.csv and feedback
    autograder new-lab lab02_topic      a new lab from the skeleton

The kit's README ("Instructor's guide") explains the notebook and hidden-test conventions.
"""


# ------------------------------------------------------------------ the lab templates


def _nbgrader(cell, grade_id: str, solution: bool) -> None:
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": not solution,
                                 "schema_version": 3, "solution": solution,
                                 "task": False}  # fmt: skip


def _lab_notebook(title: str, cells: list) -> nbformat.NotebookNode:
    return new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "title": title})


def example_notebook(title: str) -> nbformat.NotebookNode:
    """One question (a numerically stable sigmoid), its visible checks and a demo cell."""
    imports = new_code_cell("import numpy as np\nimport matplotlib.pyplot as plt")
    _nbgrader(imports, "imports", solution=False)
    solution = new_code_cell(textwrap.dedent('''\
        def sigmoid(n):
            """Logistic sigmoid 1 / (1 + exp(-n)), elementwise.

            Args:
                n: a float or a float64 array of any shape and any magnitude.
            Returns:
                an array of the shape of n, values in [0, 1]; no overflow on the way, even for
                n = -1000 (np.exp(1000) overflows: use exp(-|n|) on both sides of 0).
            """
            ### BEGIN SOLUTION
            # TODO: compute the sigmoid without overflow.
            n = np.asarray(n, dtype=float)
            e = np.exp(-np.abs(n))
            return np.where(n >= 0, 1 / (1 + e), e / (1 + e))
            ### END SOLUTION'''))
    _nbgrader(solution, "sigmoid", solution=True)
    check = new_code_cell("# Visible checks for sigmoid\n"
                          "assert np.isclose(sigmoid(0.0), 0.5)\n"
                          "assert np.allclose(sigmoid(np.array([-1.0, 1.0])), "
                          "[0.2689414213699951, 0.7310585786300049])\n"
                          "print('sigmoid: visible checks passed')")  # fmt: skip
    _nbgrader(check, "sigmoid_check", solution=False)
    check.metadata["tags"] = ["visible-check"]
    demo = new_code_cell("# Demo (not graded): the sigmoid from -8 to 8\n"
                         "n = np.linspace(-8, 8, 200)\nplt.plot(n, sigmoid(n))\n"
                         "plt.xlabel('n')\nplt.ylabel('sigmoid(n)')\nplt.show()")  # fmt: skip
    demo.metadata["tags"] = ["demo"]
    return _lab_notebook(title, [
        new_markdown_cell(f"# {title}\n\nDue {{{{due}}}}; {{{{points}}}} points. Fill in each "
                          "cell marked `TODO`, run the visible checks under it, and submit this "
                          "notebook."),
        imports,
        new_markdown_cell("### 1.1 A stable sigmoid (2 points)\n\n$\\sigma(n) = 1 / (1 + "
                          "e^{-n})$. Written literally it overflows for large negative $n$ "
                          "(NumPy warns, and the hidden tests treat the overflow as an error)."),
        solution, check, demo,
    ])  # fmt: skip


EXAMPLE_TESTS = '''"""Hidden tests of the example lab: plain pytest, run against the
submission (`sub`) and the reference solution (`ref`); see the README's instructor's guide."""

import numpy as np
import pytest


@pytest.mark.question("1.1 A stable sigmoid")
@pytest.mark.points(1)
def test_sigmoid_matches_the_reference(sub, ref, rng, tol):
    n = rng.normal(scale=5.0, size=(4, 3))
    tol.assert_close(sub.sigmoid(n), ref.sigmoid(n), what="sigmoid(n) for n of shape (4, 3)")


@pytest.mark.question("1.1 A stable sigmoid")
@pytest.mark.points(1)
def test_sigmoid_does_not_overflow(sub):
    # The test's error state holds inside the submission's call too.
    with np.errstate(over="raise"):
        result = sub.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    assert np.allclose(result, [0.0, 0.5, 1.0]), f"sigmoid([-1000, 0, 1000]) gave {result}"
'''


def skeleton_notebook(title: str) -> nbformat.NotebookNode:
    """The smallest lab that releases: one question to replace with the lab's own."""
    imports = new_code_cell("import numpy as np")
    _nbgrader(imports, "imports", solution=False)
    solution = new_code_cell(textwrap.dedent('''\
        def mean_square(x):
            """The mean of the squares of x (a float64 array of any shape), as a float."""
            ### BEGIN SOLUTION
            # TODO: return the mean of x squared.
            return float(np.mean(np.square(x)))
            ### END SOLUTION'''))
    _nbgrader(solution, "mean_square", solution=True)
    check = new_code_cell("# Visible checks for mean_square\n"
                          "assert np.isclose(mean_square(np.array([1.0, 3.0])), 5.0)")
    _nbgrader(check, "mean_square_check", solution=False)
    check.metadata["tags"] = ["visible-check"]
    return _lab_notebook(title, [
        new_markdown_cell(f"# {title}\n\nDue {{{{due}}}}; {{{{points}}}} points."),
        imports,
        new_markdown_cell("### 1.1 Mean square (1 point)\n\nReplace this question with the "
                          "lab's first one; keep the heading's form: `### <number> <name> "
                          "(<points> points)`."),
        solution, check,
    ])  # fmt: skip


SKELETON_TESTS = '''"""Hidden tests of {lab_id}: one question per `question` marker, named as
its heading in the notebook (without the points), worth the sum of its tests' `points`."""

import pytest


@pytest.mark.question("1.1 Mean square")
@pytest.mark.points(1)
def test_mean_square_matches_the_reference(sub, ref, rng, tol):
    x = rng.normal(size=(3, 5))
    tol.assert_close(sub.mean_square(x), ref.mean_square(x), what="mean_square(x)")
'''


# ------------------------------------------------------------------ course_config.py edits


def lab_entry(lab_id: str, title: str, points: float, today: date | None = None,
              notebook: str | None = None, comment: str = "") -> str:  # fmt: skip
    """A lab's entry for the `labs` list of course_config.py (released today, due in 14 days)."""
    today = today or date.today()
    due = today + timedelta(days=14)
    points_text = f"{points:g}" if float(points).is_integer() else repr(float(points))
    lines = [
        "{",
        f"    \"id\": {lab_id!r},".replace("'", '"'),
        f"    \"title\": {_quoted(title)},",
        f"    \"notebook\": {_quoted(notebook or f'source/{lab_id}/{lab_id}.ipynb')},",
        f"    \"release\": \"{today.isoformat()}T09:00\",",
        f"    \"due\": \"{due.isoformat()}T23:59\",",
        f"    \"points\": {points_text},",
        "},",
    ]
    if comment:
        lines.insert(1, f"    # {comment}")
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def add_lab_to_config(root: Path, entry: str, lab_id: str) -> None:
    """Insert `entry` at the end of COURSE["labs"] in course_config.py, keeping everything else."""
    path = root / CONFIG_FILE
    text = path.read_text()
    labs = _labs_list(text, path)
    if any(isinstance(element, ast.Dict) and any(
            isinstance(key, ast.Constant) and key.value == "id" and isinstance(value, ast.Constant)
            and value.value == lab_id for key, value in zip(element.keys, element.values))
           for element in labs.elts):  # fmt: skip
        raise InitError(f"{CONFIG_FILE}: a lab {lab_id!r} exists already; pick another id")
    lines = text.splitlines(keepends=True)
    # the closing bracket of the list: insert the entry on lines of its own before it
    end_line, end_col = labs.end_lineno - 1, labs.end_col_offset - 1
    closing = lines[end_line]
    opening = lines[labs.lineno - 1]
    indent = " " * (len(opening) - len(opening.lstrip()) + 4)
    if labs.elts and not _ends_with_comma(lines, labs.elts[-1]):
        last = labs.elts[-1]
        row = lines[last.end_lineno - 1]
        lines[last.end_lineno - 1] = row[:last.end_col_offset] + "," + row[last.end_col_offset:]
        closing = lines[end_line]
    block = textwrap.indent(entry, indent) + "\n"
    before, after = closing[:end_col], closing[end_col:]
    if before.strip():  # "labs": [ ... ] on one line
        lines[end_line] = before.rstrip() + "\n" + block + " " * (len(indent) - 4) + after
    else:
        lines[end_line] = block + before + after
    new_text = "".join(lines)
    compile(new_text, str(path), "exec")  # never leave a config that does not load
    path.write_text(new_text)


def _ends_with_comma(lines: list[str], node: ast.expr) -> bool:
    rest = lines[node.end_lineno - 1][node.end_col_offset:]
    return rest.lstrip().startswith(",")


def _labs_list(text: str, path: Path) -> ast.List:
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise InitError(f"{path}: line {error.lineno}: {error.msg}; fix it first") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "labs" and isinstance(value,
                                                                                        ast.List):
                    return value
    raise InitError(f"{path}: no \"labs\": [...] list in COURSE; add one, then run this again")


# ------------------------------------------------------------------ the commands


def _write_new(path: Path, text: str) -> None:
    if path.exists():
        raise InitError(f"{path} exists already; move it away or pick another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def kit_courselib() -> Path:
    import courselib

    return Path(courselib.__file__).resolve().parent


def grading_constraints() -> str:
    """Exact versions of the grading environment: the kit's constraints.txt, or what is
    installed here when the kit is installed from a wheel."""
    kit_file = KIT_ROOT / "constraints.txt"
    if kit_file.is_file():
        return kit_file.read_text()
    pins = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name and name not in ("rnn-course-kit", "courselib", "pip", "setuptools"):
            pins[name] = dist.version
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def init_course(folder: Path, name: str | None = None, term: str | None = None) -> list[str]:
    """Create a course in `folder` (new or empty) with the example lab; the paths written."""
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        raise InitError(f"{folder} is not empty; give a new folder to create the course in")
    folder.mkdir(parents=True, exist_ok=True)
    name = name or folder.name.replace("-", " ").replace("_", " ").capitalize()
    term = term or f"{date.today().year}"
    written = []

    def write(relative: str, text: str) -> None:
        _write_new(folder / relative, text)
        written.append(relative)

    write(CONFIG_FILE, COURSE_CONFIG.format(name=name, term=term, salt_file=SALT_FILE))
    write(SALT_FILE, secrets.token_hex(16) + "\n")
    write(".gitignore", GITIGNORE)
    write("README.md", COURSE_README.format(name=name))
    write("tests/conftest.py", CONFTEST)
    write("constraints.txt", grading_constraints())
    shutil.copytree(kit_courselib(), folder / "courselib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    written.append("courselib/")
    written += new_lab(folder, "example", "Example: a numerically stable sigmoid", example=True)
    return written


def new_lab(root: Path, lab_id: str, title: str | None = None, example: bool = False) -> list[str]:
    """A source notebook and hidden-test skeleton for `lab_id`, and its course_config entry."""
    if not LAB_ID.match(lab_id):
        raise InitError(f"lab id {lab_id!r}: use lower-case letters, digits and _, starting "
                        "with a letter (it names folders and the notebook)")  # fmt: skip
    if not (root / CONFIG_FILE).is_file():
        raise InitError(f"{root} has no {CONFIG_FILE}; run `autograder init <folder>` first, "
                        "or run this in the course folder")  # fmt: skip
    title = title or lab_id.replace("_", " ").capitalize()
    notebook = f"source/{lab_id}/{lab_id}.ipynb"
    tests = f"tests/{lab_id}/test_{lab_id}.py"
    for relative in (notebook, tests):
        if (root / relative).exists():
            raise InitError(f"{root / relative} exists already; pick another lab id")
    nb = example_notebook(title) if example else skeleton_notebook(title)
    points = 2 if example else 1
    add_lab_to_config(root, lab_entry(lab_id, title, points), lab_id)
    (root / notebook).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(root / notebook))
    _write_new(root / tests, EXAMPLE_TESTS if example else SKELETON_TESTS.format(lab_id=lab_id))
    if not (root / "tests" / "conftest.py").exists():
        _write_new(root / "tests" / "conftest.py", CONFTEST)
    return [CONFIG_FILE + f" (lab {lab_id})", notebook, tests]


# ------------------------------------------------------------------ what a course needs


def course_file_problem(root: Path, release: bool) -> str | None:
    """The first file a course lacks for `release` (or for `check` and `grade`), as one line
    naming the file and what to do; None when nothing is missing."""
    conftest = root / "tests" / "conftest.py"
    if not conftest.is_file() or "autograder.pytest_plugin" not in conftest.read_text():
        return (f"{conftest}: missing or not loading the kit's plugin; it needs the line "
                "pytest_plugins = [\"autograder.pytest_plugin\"]")  # fmt: skip
    if not release:
        return None
    init = root / "courselib" / "__init__.py"
    if not init.is_file():
        return (f"{init}: missing; the course's library (students get it as a wheel) must be a "
                "package with __version__ = \"...\": copy the kit's courselib/ (as autograder "
                "init does)")  # fmt: skip
    if not re.search(r'__version__\s*=\s*"[^"]+"', init.read_text()):
        return f"{init}: defines no __version__ = \"...\"; add one (the students' wheel needs it)"
    if not (root / "constraints.txt").is_file():
        return (f"{root / 'constraints.txt'}: missing; it pins the versions in the students' "
                "requirements.txt: copy the kit's constraints.txt (as autograder init does)")
    return None
