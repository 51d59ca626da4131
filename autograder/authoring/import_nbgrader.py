"""`autograder import nbgrader <assignment folder or notebook>`: an nbgrader assignment as labs of
this course, one lab per notebook (lab id: the notebook's name, or `--lab` for one notebook).

- Solution cells keep their `### BEGIN SOLUTION` / `### END SOLUTION` regions (the kit's markers
  are nbgrader's); a solution cell without markers is all answer, as in nbgrader, and becomes one
  region. `### AUTOTEST` and `### HASHED AUTOTEST` lines are expanded first, with the solution's
  values, as `nbgrader generate_assignment` expands them (`nbgrader_autotest`).
- Each autograder test cell (`grade: true`, code, with points) becomes one hidden test worth the
  same points (`tests/<lab>/test_<lab>.py`). It runs the cell in the submission's namespace,
  inside the sandbox, and gives what nbgrader gives: no points for an error or anything on
  stderr, the points a cell shows for partial credit, else all (`autograder.testing`). The cell
  stays in the notebook as a visible check, without its `### BEGIN HIDDEN TESTS` part.
- Each test cell is a question `1.<k> <grade_id>` with a heading `### 1.<k> <grade_id> (<points>
  points)` before the cells it checks; other headings that end in "(N points)" lose that ending.
- A Markdown answer graded by hand (`solution: true, grade: true`, with points) is a written
  question of the lab (`autograder.core.written`): it keeps its grade_id and points, its answer
  becomes the model answer (hidden from the release), and a heading `### 1.<k> <grade_id>
  (<points> points)` goes before it; TAs grade it in `autograder review`. Other cells graded by
  hand (code answers, tasks) stay in the lab's text, their answers hidden from the release like
  any solution, and are listed: the kit does not grade them.
- The assignment's other files (images, data) go with the lab; nbgrader's 30 s of wall-clock time
  per cell is the lab's time limit, and the submission's own copies of the test cells are not run
  with it.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

from autograder.authoring.course_init import InitError
from autograder.authoring.imported_lab import (
    SKIP_ORIGINAL_TESTS,
    Check,
    ImportedLab,
    ImportedTest,
    as_solution_region,
    check_kernel,
    check_writable,
    defined_names,
    files_read_by_code,
    first_heading,
    later_changes,
    mark_free_tests,
    plain_heading_points,
    points_text,
    python_name,
    read_notebook,
    write_lab,
)
from autograder.authoring.nbgrader_autotest import expand, has_autotests
from autograder.core.written import is_written_answer

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# nbgrader's Execute.timeout: the wall-clock seconds a cell may run (the lab's wall_factor 1 makes
# the kit's limit of CPU time one of wall-clock time too)
NBGRADER_CELL_TIMEOUT_S = 30


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


def assignment_notebooks(path: Path) -> list[Path]:
    """The notebooks of an nbgrader assignment folder (source/<assignment>/), or `path`."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InitError(f"{path}: no such notebook or assignment folder")
    notebooks = sorted(p for p in path.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not notebooks:
        raise InitError(f"{path}: an assignment folder without notebooks")
    return notebooks


def assignment_files(folder: Path) -> dict[str, Path]:
    """The files beside an assignment's notebooks (images, data): they go with each lab."""
    return {str(path.relative_to(folder)): path for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix != ".ipynb" and not any(
                part.startswith(".") for part in path.relative_to(folder).parts)}  # fmt: skip


def _meta(cell) -> dict:
    meta = cell.metadata.get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _is_test_cell(cell) -> bool:
    meta = _meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _is_written_answer(cell) -> bool:
    points = _meta(cell).get("points")
    return is_written_answer(cell) and isinstance(points, int | float) and points > 0


def read_nbgrader(path: Path, lab_id: str | None = None) -> ImportedLab:
    """One notebook of an nbgrader assignment as a lab."""
    nb = read_notebook(path)
    kernel = check_kernel(nb, path)
    lab_id = lab_id or python_name(path.stem)
    title = nb.metadata.get("title") or first_heading(nb) or path.stem
    autotests = any(cell.cell_type == "code" and has_autotests(cell.source) for cell in nb.cells)
    autotest_sources = expand(nb.cells, kernel, path.parent, str(path)) if autotests else {}
    cells, tests, notes = [], [], []
    student_names: set[str] = set()
    given_names: set[str] = set()
    question_start = 0  # where the cells of the next question begin in `cells`
    questions = 0  # questions so far (tested and written), numbered in notebook order
    for index, original in enumerate(nb.cells):
        cell = copy.deepcopy(original)
        cell.source = autotest_sources.get(index, cell.source)
        meta = _meta(cell)
        grade_id = str(meta.get("grade_id") or f"cell_{index}")
        if cell.cell_type == "markdown":
            cell.source = plain_heading_points(cell.source)
        if cell.cell_type == "code" and not meta.get("solution") and not _is_test_cell(cell):
            given_names |= defined_names(cell.source)
        if meta.get("solution"):
            if cell.cell_type == "code":
                student_names |= defined_names(cell.source)
            cell.source = as_solution_region(cell.source)
        if _is_written_answer(cell):
            # nbgrader's manually graded answer: a written question, with a heading of its own
            points = float(meta["points"])
            questions += 1
            cells.append(new_markdown_cell(f"### 1.{questions} {grade_id} "
                                           f"({points_text(points)})"))  # fmt: skip
            cell.metadata["nbgrader"] = {**meta, "grade_id": grade_id}
            cells.append(cell)
            question_start = len(cells)
            continue
        if (meta.get("grade") and meta.get("solution")) or meta.get("task"):
            what = "a task" if meta.get("task") else "an answer"
            notes.append(f"{grade_id}: {what} graded by hand in nbgrader "
                         f"({points_text(float(meta.get('points', 0)))}): kept in the text, not "
                         "graded by the kit")  # fmt: skip
            cell.metadata["nbgrader"] = {**meta, "grade": False}
            cell.metadata["nbgrader"].pop("points", None)
        if not _is_test_cell(cell):
            cells.append(cell)
            continue
        points = float(meta.get("points", 0))
        if points <= 0:
            notes.append(f"{grade_id}: a test cell worth no points: not imported")
            continue
        questions += 1
        question = f"1.{questions} {grade_id}"
        code = without_markers(cell.source)
        check = Check("cell", code, f"test cell {grade_id}", points)
        tests.append(ImportedTest(python_name(grade_id), question, points, [check]))
        later = [c.source for c in nb.cells[index + 1:]
                 if c.cell_type == "code" and not _is_test_cell(c)]  # fmt: skip
        changed = later_changes(check, later)
        if changed:
            notes.append(f"{grade_id}: reads {', '.join(changed)}, which a later cell binds again: "
                         "nbgrader runs the test cell where it stands, the kit after the whole "
                         "notebook")  # fmt: skip
        # the heading goes before the question's first solution cell since the last test cell
        first = next((position for position in range(question_start, len(cells))
                      if _meta(cells[position]).get("solution")), len(cells))  # fmt: skip
        cells.insert(first, new_markdown_cell(f"### {question} ({points_text(points)})"))
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
    mark_free_tests(tests, student_names, given_names, "nbgrader")
    notes += [f"{test.name}: {test.passes_on_blank}" for test in tests if test.passes_on_blank]
    out = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(nb.metadata))
    out.metadata["title"] = title
    limit = NBGRADER_CELL_TIMEOUT_S
    settings = {"cell_timeout_s": limit, "test_timeout_s": limit, "wall_factor": 1,
                "skip_tags": SKIP_ORIGINAL_TESTS}  # fmt: skip
    where = f"{path.parent.name}/{path.name}"
    files = assignment_files(path.parent)
    notes += files_read_by_code(cells, files)
    return ImportedLab(lab_id, title, out, tests, "nbgrader", where, settings, files, notes)


def _graded_by_hand(nb: nbformat.NotebookNode) -> str:
    cells = [(str(_meta(cell).get("grade_id")), float(_meta(cell).get("points", 0)))
             for cell in nb.cells if _meta(cell).get("grade") or _meta(cell).get("task")]
    return ", ".join(f"{grade_id} {points_text(points)}" for grade_id, points in cells) or "none"


def import_nbgrader(course_root: Path, path: Path, lab_id: str | None = None) -> list[str]:
    notebooks = assignment_notebooks(path)
    if lab_id and len(notebooks) > 1:
        raise InitError(f"{path}: {len(notebooks)} notebooks; --lab names one lab: import "
                        "them one at a time (autograder import nbgrader <notebook> --lab <id>)")
    labs, skipped = [], []
    for notebook in notebooks:  # every notebook is read and checked before anything is written
        nb = read_notebook(notebook)
        check_kernel(nb, notebook)
        if not any(_is_test_cell(cell) and float(_meta(cell).get("points", 0)) > 0
                   for cell in nb.cells):  # fmt: skip
            skipped.append(f"{notebook.name}: no autograder test cells, only cells graded by "
                           f"hand ({_graded_by_hand(nb)}): not imported, a lab needs at least "
                           "one test cell")  # fmt: skip
            continue
        labs.append(read_nbgrader(notebook, lab_id))
    if not labs:
        raise InitError(f"{path}: no autograder test cells (nbgrader grade: true, with points) to "
                        "turn into hidden tests")  # fmt: skip
    for lab in labs:
        check_writable(course_root, lab)
    written: list[str] = []
    for lab in labs:
        written += write_lab(course_root, lab) + [f"{lab.lab_id}: {note}" for note in lab.notes]
    return written + skipped


__all__ = ["import_nbgrader", "read_nbgrader"]
