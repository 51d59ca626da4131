"""`autograder import nbgrader <assignment folder or source notebook>`: an nbgrader assignment as a
lab of this course.

- Solution cells keep their `### BEGIN SOLUTION` / `### END SOLUTION` regions (the kit's markers
  are nbgrader's) and their metadata.
- Each autograder test cell (nbgrader `grade: true`, code, with `points`) becomes one hidden test
  worth the same points, in `tests/<lab>/test_<lab>.py`: it runs the cell's code in the trusted
  process with the names of the student's solution cells read from `sub` (see
  `autograder.testing.run_test_cell`), and passes when the cell raises nothing, as in nbgrader.
  The cell stays in the notebook as a visible check, without its `### BEGIN HIDDEN TESTS` part
  (dropped when nothing visible is left).
- Each test cell is a question of its own, `1.<k> <grade_id>`, with a heading
  `### 1.<k> <grade_id> (<points> points)` placed before the cells it checks (the kit's
  one-heading-per-question rule); other headings that end in "(N points)" lose that ending.
- Manually graded cells cannot be graded by a machine: they are listed, not imported as tests.
- A `labs` entry is written into course_config.py with the sum of the imported points.
"""

from __future__ import annotations

import ast
import copy
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

from autograder.authoring.course_init import (
    CONFTEST,
    LAB_ID,
    InitError,
    add_lab_to_config,
    lab_entry,
)
from autograder.core.config import CONFIG_FILE
from autograder.core.notebook import without_magics

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
POINTS_HEADING = re.compile(r"^(#{1,6}\s.*?)\s*\((\d+(?:\.\d+)?) points?\)\s*$", re.MULTILINE)


@dataclass
class ImportedTest:
    """One hidden test: the code it runs and how it is judged."""

    name: str  # the test function's name
    question: str
    points: float
    source: str
    compare_with_reference: bool = False  # Otter: the outputs must equal the solution's


@dataclass
class ImportedLab:
    lab_id: str
    title: str
    notebook: nbformat.NotebookNode
    tests: list[ImportedTest]
    student_names: set[str]
    origin: str  # "nbgrader" or "Otter", for the test file's docstring
    notes: list[str] = field(default_factory=list)  # what was not imported, and why

    @property
    def points(self) -> float:
        return sum(test.points for test in self.tests)


def python_name(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower() or "cell"
    return name if name[0].isalpha() else f"t_{name}"


def defined_names(source: str) -> set[str]:
    """Top-level names a cell defines (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(without_magics(source))
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            for target in getattr(node, "targets", []) + [getattr(node, "target", None)]:
                for leaf in ast.walk(target) if target is not None else ():
                    if isinstance(leaf, ast.Name):
                        names.add(leaf.id)
    return names


def without_hidden_tests(source: str) -> str:
    kept, hidden = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            hidden = True
        elif line.strip() == HIDDEN_END:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept).strip("\n")


def without_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in (HIDDEN_BEGIN, HIDDEN_END))  # fmt: skip


def plain_heading_points(source: str) -> str:
    """Headings that are not the kit's question headings must not end in "(N points)"."""
    return POINTS_HEADING.sub(lambda match: f"{match.group(1)} [{match.group(2)} points]", source)


def source_notebook(path: Path) -> Path:
    """The notebook of an nbgrader assignment folder (source/<assignment>/), or `path` itself."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise InitError(f"{path}: no such notebook or assignment folder")
    notebooks = sorted(p for p in path.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if len(notebooks) != 1:
        found = ", ".join(p.name for p in notebooks) or "none"
        raise InitError(f"{path}: an assignment folder with one notebook is needed (found: "
                        f"{found}); name the notebook to import instead")  # fmt: skip
    return notebooks[0]


def read_nbgrader(path: Path, lab_id: str | None = None) -> ImportedLab:
    notebook_path = source_notebook(path)
    nb = nbformat.read(str(notebook_path), as_version=4)
    lab_id = lab_id or python_name(notebook_path.stem)
    title = nb.metadata.get("title") or first_heading(nb) or notebook_path.stem
    cells, tests, student_names, notes = [], [], set(), []
    question_start = 0  # where the cells of the next question begin in `cells`
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            cell = copy.deepcopy(cell)
            cell.source = plain_heading_points(cell.source)
        if meta.get("solution") and cell.cell_type == "code":
            student_names |= defined_names(cell.source)
        if meta.get("grade") and meta.get("solution"):
            notes.append(f"{meta.get('grade_id')}: graded by hand in nbgrader "
                         f"({meta.get('points', 0):g} points): not imported")  # fmt: skip
            cell = copy.deepcopy(cell)
            cell.metadata["nbgrader"] = {**meta, "grade": False}
            cell.metadata["nbgrader"].pop("points", None)
        if not (meta.get("grade") and not meta.get("solution") and cell.cell_type == "code"):
            cells.append(cell)
            continue
        grade_id = str(meta.get("grade_id") or f"cell_{len(tests) + 1}")
        question = f"1.{len(tests) + 1} {grade_id}"
        points = float(meta.get("points", 0))
        if points <= 0:
            notes.append(f"{grade_id}: a test cell worth no points: not imported")
            continue
        tests.append(ImportedTest(python_name(grade_id), question, points,
                                  without_markers(cell.source)))  # fmt: skip
        # the heading goes before the question's first solution cell since the last test cell
        first = next((index for index in range(question_start, len(cells))
                      if cells[index].metadata.get("nbgrader", {}).get("solution")),
                     len(cells))  # fmt: skip
        cells.insert(first, new_markdown_cell(f"### {question} ({points:g} points)"))
        visible = without_hidden_tests(cell.source)
        if visible.strip():
            check = copy.deepcopy(cell)
            check.source = visible
            check.metadata["nbgrader"] = {"grade": False, "grade_id": f"{grade_id}_check",
                                          "locked": True, "schema_version": 3, "solution": False,
                                          "task": False}  # fmt: skip
            check.metadata["tags"] = sorted({*check.metadata.get("tags", []), "visible-check"})
            cells.append(check)
        question_start = len(cells)
    if not tests:
        raise InitError(f"{notebook_path}: no autograder test cells (nbgrader grade: true, with "
                        "points) to turn into hidden tests")  # fmt: skip
    out = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(nb.metadata))
    out.metadata["title"] = title
    return ImportedLab(lab_id, title, out, tests, student_names, "nbgrader", notes)


def first_heading(nb: nbformat.NotebookNode) -> str | None:
    """The notebook's title: its first level-1 Markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


# ------------------------------------------------------------------ writing the lab


TEST_FILE = '''"""Hidden tests of {lab_id}, imported from {origin}: each test runs one of its test
cells against the submission (`autograder.testing.run_test_cell`), worth the same points.
{compare_note}"""

import pytest

from autograder.testing import run_test_cell

# Names the student's solution cells define: the test cells read them from the submission.
STUDENT_NAMES = frozenset({student_names!r})
'''

COMPARE_NOTE = ("As in Otter, a test passes when the cell shows the same output on the "
                "submission as on the\nsolution.\n")

TEST_FUNCTION = '''

@pytest.mark.question({question!r})
@pytest.mark.points({points:g})
def test_{name}(sub, ref):
    cell = {source}
    {shown}run_test_cell(cell, sub, ref, STUDENT_NAMES, {label!r})
'''

COMPARE_TAIL = '''    expected = run_test_cell(cell, ref, ref, STUDENT_NAMES, {label!r})
    assert shown == expected, f"{label} shows {{shown}}; expected {{expected}}"
'''


def test_file(lab: ImportedLab) -> str:
    text = TEST_FILE.format(lab_id=lab.lab_id, origin=lab.origin,
                            compare_note=COMPARE_NOTE if any(
                                test.compare_with_reference for test in lab.tests) else "",
                            student_names=sorted(lab.student_names))  # fmt: skip
    used: set[str] = set()
    for test in lab.tests:
        name = test.name
        while name in used:
            name += "_"
        used.add(name)
        label = f"test cell {test.name}"
        text += TEST_FUNCTION.format(question=test.question, points=test.points, name=name,
                                     source=_literal(test.source), label=label,
                                     shown="shown = " if test.compare_with_reference else "")
        if test.compare_with_reference:
            text += COMPARE_TAIL.format(label=label)
    return text


def _literal(source: str) -> str:
    """The cell's code as a readable triple-quoted literal (repr when it cannot be one)."""
    if '"""' not in source and "\\" not in source and not source.endswith('"'):
        return '"""\\\n' + textwrap.indent(source, "") + '\n"""'
    return repr(source)


def write_lab(course_root: Path, lab: ImportedLab) -> list[str]:
    """The lab's source notebook, hidden tests and course_config entry; the paths written."""
    if not LAB_ID.match(lab.lab_id):
        raise InitError(f"lab id {lab.lab_id!r}: use lower-case letters, digits and _ "
                        "(--lab <id>)")  # fmt: skip
    if not (course_root / CONFIG_FILE).is_file():
        raise InitError(f"{course_root} has no {CONFIG_FILE}; run `autograder init <folder>` "
                        "first, or run this in the course folder")  # fmt: skip
    notebook = course_root / "source" / lab.lab_id / f"{lab.lab_id}.ipynb"
    tests = course_root / "tests" / lab.lab_id / f"test_{lab.lab_id}.py"
    for path in (notebook, tests):
        if path.exists():
            raise InitError(f"{path} exists already; import under another id with --lab <id>")
    add_lab_to_config(course_root, lab_entry(lab.lab_id, lab.title, lab.points,
                                             comment=f"imported from {lab.origin}"),
                      lab.lab_id)  # fmt: skip
    notebook.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(lab.notebook, str(notebook))
    tests.parent.mkdir(parents=True, exist_ok=True)
    tests.write_text(test_file(lab))
    conftest = course_root / "tests" / "conftest.py"
    if not conftest.exists():
        conftest.write_text(CONFTEST)
    return [f"{CONFIG_FILE} (lab {lab.lab_id}, {lab.points:g} points)",
            str(notebook.relative_to(course_root)), str(tests.relative_to(course_root))]


def import_nbgrader(course_root: Path, path: Path, lab_id: str | None = None) -> list[str]:
    lab = read_nbgrader(path, lab_id)
    return write_lab(course_root, lab) + lab.notes


__all__ = ["ImportedLab", "ImportedTest", "import_nbgrader", "write_lab"]
