"""`autograder release`: from the source notebook to the student and solution notebooks.

    source/<lab>/<lab>.ipynb  ->  release/<lab>/<lab>.ipynb      stubs instead of solutions
    source/<lab>/<files>      ->  release/<lab>/<files>          images and data, as they are
                                  release/<lab>/requirements.txt + courselib wheel + README.md
                              ->  solutions/<lab>/<lab>.ipynb    executed, with outputs

Everything is staged in a temporary folder and written only when every check passes: balanced
markers, no solution text left in the release, points that match the config, the notebook's
text agreeing with the config and the hidden tests (`lab_text`: filled-in settings, question
headings with their points, every threshold a question's tests apply stated in its text, marked
demo cells), and hidden tests that all pass on the solution
and all fail on the released stubs, both graded through the sandbox like any submission.
Writing is byte-for-byte reproducible, and the solution notebook is executed again only when its
inputs changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.authoring.lab_text import (
    check_config_constants,
    check_demo_marks,
    check_question_headings,
    check_stated_thresholds,
    fill_placeholders,
    lab_values,
)
from autograder.authoring.stubs import (
    SourceError,
    check_nbgrader_metadata,
    solution_lines,
    solution_source,
    stub_source,
    written_solution,
)
from autograder.authoring.student_bundle import (
    build_courselib_wheel,
    build_validate_app,
    jupyter_requirements,
    student_requirements,
)
from autograder.core.config import Course
from autograder.core.errors import UserError
from autograder.core.notebook import KIT_METADATA, NotebookError, read_notebook, write_notebook
from autograder.core.written import (
    WRITTEN_STUB,
    WrittenQuestionError,
    is_written_answer,
    written_questions,
)
from autograder.judging.hidden_tests import check_points, run_hidden_tests
from autograder.validate import STUDENT_APP

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
# Threads and hashing fixed so that executing the solution twice gives the same outputs.
EXECUTION_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
CHECK_LINE = ("**Before you submit**, check your notebook from this folder: `python {app} "
              "{lab}.ipynb` (on Colab: `!python {app} {lab}.ipynb`). It lists what to fix "
              "(names, TODOs left, a clean run from top to bottom) without the hidden tests.")
STUDENT_README = """# {title}

1. Install the requirements once (Python 3.11+; a virtual environment is recommended):

       pip install -r requirements.txt -r requirements-jupyter.txt

   torch comes from PyTorch's CPU-only index, so no CUDA packages are downloaded: about 310 MB
   to download (a few minutes on a home connection), 1.4 GB installed, under a minute to install
   once downloaded.
   On Colab (or a JupyterHub), run `!pip install -r requirements.txt` only: Jupyter is there
   already. A new courselib has a new version number: installing again replaces the old one.

2. Open the notebook: `jupyter lab {lab}.ipynb`.
3. Fill in every cell marked `# TODO`, replacing `raise NotImplementedError()`, and run the
   check cell below it. Keep the function names and signatures as given.
4. Before submitting, check the notebook: `python validate.pyz {lab}.ipynb` (in this folder, with
   the same Python). It says what to fix: graded names or signatures changed, TODOs left, files the
   grader will not have, cells that fail or run too long in a fresh kernel. It never sees the
   hidden tests, so passing it is not a grade.
5. Submit `{lab}.ipynb` as it is (File > Save, then upload the .ipynb file).

Cells tagged `demo` (training runs, plots) are for you: the grader skips them.
"""


class ReleaseError(UserError):
    """A release that was refused; the message says why in one line."""


@dataclass
class ReleaseSummary:
    lab_id: str
    files_written: list[Path] = field(default_factory=list)
    solution_executed: bool = False
    tests_checked: int = 0

    def describe(self) -> str:
        parts = [f"{self.lab_id}:"]
        if self.tests_checked:
            parts.append(f"{self.tests_checked} hidden tests pass on the solution, fail on stubs;")
        parts.append("solution executed;" if self.solution_executed else "solution up to date;")
        parts.append(f"{len(self.files_written)} files changed")
        return " ".join(parts)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def courselib_digest(course: Course) -> str:
    digest = hashlib.sha256()
    for path in sorted((course.root / "courselib").rglob("*.py")):
        digest.update(path.relative_to(course.root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def _normalised(nb: NotebookNode) -> NotebookNode:
    """Metadata every released notebook shares: Python 3 kernel, no stray execution state."""
    nb = copy.deepcopy(nb)
    nb.metadata = {key: value for key, value in nb.metadata.items() if key in ("nbgrader", "title")}
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"  # stable ids: Jupyter's random ones would change bytes
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
    return nb


def _point_to_the_check(nb: NotebookNode, lab_id: str) -> None:
    """The first cell tells students how to check the notebook before submitting it."""
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown" or STUDENT_APP in first.source:
        return
    first.source = first.source.rstrip() + "\n\n" + CHECK_LINE.format(app=STUDENT_APP, lab=lab_id)


def build_student_notebook(source: NotebookNode) -> NotebookNode:
    nb = _normalised(source)
    for index, cell in enumerate(nb.cells):
        if is_written_answer(cell):  # the prompt is in the heading's cell; the answer is theirs
            cell.source = WRITTEN_STUB
            cell.pop("attachments", None)
        else:
            cell.source = stub_source(cell.source, f"cell {index}", cell.cell_type == "markdown")
    leaks = solution_lines(source)
    for index, cell in enumerate(nb.cells):
        for line in cell.source.splitlines():
            if line.strip() in leaks:
                raise SourceError(
                    f"cell {index}: the release would still contain solution text: {line.strip()!r}"
                )
    return nb


def build_solution_notebook(source: NotebookNode) -> NotebookNode:
    nb = _normalised(source)
    for index, cell in enumerate(nb.cells):
        if is_written_answer(cell):
            cell.source = written_solution(cell.source, f"cell {index}")
        else:
            cell.source = solution_source(cell.source, f"cell {index}")
    return nb


def execute_solution(nb: NotebookNode, timeout_s: float) -> NotebookNode:
    """Run every cell (demo cells included) in a real Jupyter kernel; any error refuses."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    saved = {key: os.environ.get(key) for key in EXECUTION_ENV}
    os.environ.update(EXECUTION_ENV)
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-solution-") as workdir:
            # IPC sockets: a local kernel needs no TCP ports (and warns about them).
            kernel = KernelManager(kernel_name="python3", transport="ipc", ip=f"{workdir}/kernel")
            client = NotebookClient(
                nb, km=kernel, timeout=timeout_s, record_timing=False,
                resources={"metadata": {"path": workdir}},
            )  # fmt: skip
            client.execute(cleanup_kc=True)  # a kernel it was handed is not shut down otherwise
    except CellExecutionError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise ReleaseError(f"the solution notebook fails to run: {lines[-1][:300]}") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def _solution_is_current(path: Path, inputs_digest: str) -> bool:
    try:
        existing = nbformat.read(path, as_version=4)
    except Exception:
        return False
    return existing.metadata.get(KIT_METADATA, {}).get("inputs_sha256") == inputs_digest


def _check_hidden_tests(
    course: Course, lab_id: str, student_notebook: Path, solution_notebook: Path
) -> int:
    """Grade the solution and the blank notebook exactly as submissions are graded.

    Both go through the same sandbox and boundary as students' notebooks, so a hidden test that
    only works in-process (say, one that hands a function or a dataset to the submission) is
    caught here rather than by the first student.
    """
    collected = run_hidden_tests(course, lab_id, collect_only=True)
    check_points(course, lab_id, collected)
    solution = read_notebook(solution_notebook)
    tested = {record.question for record in collected}
    written = [(question.name, question.points) for question in written_questions(solution)]
    try:
        both = [name for name, _ in written if name in tested]
        if both:
            raise SourceError(f"question {both[0]!r} has hidden tests and a written answer cell: "
                              "a question is graded by one or the other")  # fmt: skip
        check_question_headings(solution,
                                [(record.question, record.points) for record in collected]
                                + written, f"tests/{lab_id}")  # fmt: skip
        check_stated_thresholds(read_notebook(course.lab(lab_id).notebook), course.lab(lab_id),
                                [(record.nodeid, record.question) for record in collected],
                                course.root)  # fmt: skip
    except SourceError as exc:
        notebook = course.lab(lab_id).notebook.relative_to(course.root)
        raise ReleaseError(f"{notebook}: {exc}") from None
    on_solution = run_hidden_tests(course, lab_id, submission=solution_notebook)
    not_passing = [r.name for r in on_solution if r.outcome not in ("passed", "skipped")]
    if not_passing:
        raise ReleaseError(
            f"{lab_id}: hidden tests fail on the solution: {', '.join(not_passing[:5])}"
            f" ({_first_message(on_solution)})"
        )
    on_stubs = run_hidden_tests(course, lab_id, submission=student_notebook)
    # points on the blank notebook are refused, but for the tests of an imported lab that its
    # original tool passes on every notebook too (marked `passes_on_blank` by the import)
    passing = [r.name for r in on_stubs if r.earned > 0 and not r.passes_on_blank]
    if passing:
        raise ReleaseError(
            f"{lab_id}: hidden tests pass on the blank notebook: {', '.join(passing[:5])}"
        )
    return len(on_solution)


def _first_message(records: list) -> str:
    return next((r.message for r in records if r.outcome not in ("passed", "skipped")), "")


def _write_if_changed(path: Path, data: bytes, written: list[Path]) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    written.append(path)


@dataclass
class Planned:
    """What a release of one lab consists of, before anything is written or executed."""

    source: NotebookNode  # with its solution markers, the config's settings filled in
    student: NotebookNode
    solution: NotebookNode  # not yet executed
    inputs_digest: str  # source notebook + courselib: the solution's outputs depend on both


def plan_release(course: Course, lab_id: str) -> Planned:
    lab = course.lab(lab_id)
    try:
        source = read_notebook(lab.notebook)
        check_nbgrader_metadata(source)
        written_questions(source)  # refuses an answer cell without its heading or points
        for tag in lab.skip_tags:
            check_demo_marks(source, tag)
        check_config_constants(source, lab)
        fill_placeholders(source, lab)
        _point_to_the_check(source, lab_id)
        student = build_student_notebook(source)
        solution = build_solution_notebook(source)
    except (NotebookError, SourceError, WrittenQuestionError) as exc:
        raise ReleaseError(f"{lab.notebook.relative_to(course.root)}: {exc}") from None
    source_digest = _sha256(lab.notebook.read_bytes())
    # The settings filled into the text are inputs too: a new budget re-executes the solution.
    settings = json.dumps(lab_values(lab), sort_keys=True, default=str)
    inputs_digest = _sha256(f"{source_digest}:{courselib_digest(course)}:{settings}".encode())
    student.metadata[KIT_METADATA] = {"lab": lab_id, "source_sha256": source_digest}
    solution.metadata[KIT_METADATA] = {"lab": lab_id, "inputs_sha256": inputs_digest}
    return Planned(source, student, solution, inputs_digest)


def lab_files(course: Course, lab_id: str) -> list[Path]:
    """The files beside the source notebook (images it shows, data it reads): released with it."""
    notebook = course.lab(lab_id).notebook
    return [path for path in sorted(notebook.parent.iterdir())
            if path.is_file() and path != notebook and path.suffix != ".ipynb"
            and not path.name.startswith(".")]  # fmt: skip


def write_student_files(course: Course, lab_id: str, planned: Planned, folder: Path) -> None:
    """The student notebook and the lab's files, the courselib wheel, requirements.txt and
    README.md."""
    write_notebook(planned.student, folder / f"{lab_id}.ipynb")
    for path in lab_files(course, lab_id):
        shutil.copyfile(path, folder / path.name)
    wheel = build_courselib_wheel(course.root / "courselib", folder)
    try:
        requirements = student_requirements(course.root / "constraints.txt", wheel.name)
        jupyter = jupyter_requirements(course.root / "constraints.txt")
    except ValueError as exc:
        raise ReleaseError(f"{lab_id}: cannot pin the student requirements: {exc}") from None
    (folder / "requirements.txt").write_text(requirements)
    (folder / "requirements-jupyter.txt").write_text(jupyter)
    build_validate_app(planned.student, course.lab(lab_id), folder)
    title = course.lab(lab_id).title
    (folder / "README.md").write_text(STUDENT_README.format(title=title, lab=lab_id))


def stale_files(course: Course, lab_id: str) -> list[str]:
    """Files under release/ and solutions/ that do not match what source/ would release now."""
    planned = plan_release(course, lab_id)
    release_dir = course.release_dir(lab_id)
    stale: list[str] = []
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as staging_dir:
        staging = Path(staging_dir)
        write_student_files(course, lab_id, planned, staging)
        expected = {path.name: path.read_bytes() for path in staging.iterdir()}
    present = {path.name for path in release_dir.iterdir()} if release_dir.is_dir() else set()
    for name in sorted(set(expected) | present):
        path = release_dir / name
        if name not in expected or not path.is_file() or path.read_bytes() != expected[name]:
            stale.append(f"release/{lab_id}/{name}")
    solution_path = course.solutions_dir(lab_id) / f"{lab_id}.ipynb"
    if not _solution_is_current(solution_path, planned.inputs_digest):
        stale.append(f"solutions/{lab_id}/{lab_id}.ipynb")
    return stale


def release_lab(
    course: Course, lab_id: str, check_tests: bool = True, force: bool = False,
    out_root: Path | None = None,
) -> ReleaseSummary:  # fmt: skip
    """Release one lab into out_root (default: the course root); see the module docstring."""
    lab = course.lab(lab_id)
    out_root = out_root or course.root
    summary = ReleaseSummary(lab_id)
    planned = plan_release(course, lab_id)
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as staging_dir:
        staging = Path(staging_dir) / "release"
        staging.mkdir()
        write_student_files(course, lab_id, planned, staging)
        if check_tests:
            solution_notebook = Path(staging_dir) / "unexecuted-solution.ipynb"
            write_notebook(planned.solution, solution_notebook)
            summary.tests_checked = _check_hidden_tests(
                course, lab_id, staging / f"{lab_id}.ipynb", solution_notebook
            )

        solution_path = out_root / "solutions" / lab_id / f"{lab_id}.ipynb"
        if force or not _solution_is_current(solution_path, planned.inputs_digest):
            solution = execute_solution(planned.solution, timeout_s=lab.notebook_timeout_s)
            executed = Path(staging_dir) / "solution.ipynb"
            write_notebook(solution, executed)
            summary.solution_executed = True
            _write_if_changed(solution_path, executed.read_bytes(), summary.files_written)

        release_dir = out_root / "release" / lab_id
        for path in sorted(staging.iterdir()):
            _write_if_changed(release_dir / path.name, path.read_bytes(), summary.files_written)
        for stale in release_dir.iterdir():
            if not (staging / stale.name).exists():
                stale.unlink() if stale.is_file() else shutil.rmtree(stale)
    return summary
