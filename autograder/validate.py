"""`autograder validate <notebook>`: the student's check before submitting, in seconds.

It runs in the student's own environment and knows only what students already have: the
released notebook of the lab (its graded names and signatures) and the lab's limits. It never
sees hidden tests. In order, and listing everything it finds:

1. the file is a notebook (one line saying why not);
2. every graded name of the release is defined, with the release's signature (functions,
   classes and their methods, as written in the cells the student fills in);
3. no graded function still raises the TODO stub's `NotImplementedError`;
4. no cell reads a file the grader will not have (the grader runs the notebook alone, in an empty
   folder) and no shell command or magic is relied on (the grader does not run them);
5. the notebook runs top to bottom in a fresh kernel (cells tagged like `demo` left out, as the
   grader leaves them out), each cell within the lab's `cell_timeout_s` and all of them within
   `notebook_timeout_s`, so the visible checks pass.

Time here is wall time on the student's machine; the grader counts CPU time, so a notebook well
within the limits here is within them there.
"""

from __future__ import annotations

import ast
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nbformat import NotebookNode

from autograder.core.errors import UserError
from autograder.core.notebook import KIT_METADATA, NotebookError, cell_tags, read_notebook
from autograder.core.safe_text import one_line

if TYPE_CHECKING:
    from autograder.core.config import Course

# Calls that read a file named by their first argument.
READERS = {"open", "load", "loadtxt", "genfromtxt", "fromfile", "read_csv", "read_table",
           "read_json", "read_excel", "read_parquet", "read_pickle", "imread", "read_text",
           "read_bytes", "wavfile.read", "Image.open"}  # fmt: skip
SHELL_CALLS = {"system", "getoutput"}  # `!cmd`, `x = !cmd`
MAGIC_CALLS = {"run_line_magic", "run_cell_magic"}
# Magics that install, run or read something outside the notebook (`%matplotlib` is harmless).
OUTSIDE_MAGICS = {"pip", "conda", "run", "load", "cd", "sx", "system", "bash", "sh", "script",
                  "writefile"}  # fmt: skip


class ValidateError(UserError):
    """Validation could not be done at all (no such notebook, no such lab), in one line."""


@dataclass(frozen=True)
class Limits:
    cell_timeout_s: float
    notebook_timeout_s: float
    skip_tags: tuple[str, ...]


@dataclass
class Report:
    notebook: Path
    problems: list[str]
    seconds: float

    def lines(self) -> list[str]:
        if not self.problems:
            return [f"ok: {self.notebook.name} is ready to submit (checked in "
                    f"{self.seconds:.0f} s)"]  # fmt: skip
        count = len(self.problems)
        return [f"{self.notebook.name}: {count} thing{'s' * (count > 1)} to fix before "
                "submitting:",
                *(f"- {problem}" for problem in self.problems)]  # fmt: skip


def lab_of_notebook(nb: NotebookNode) -> str | None:
    kit = nb.metadata.get(KIT_METADATA)
    return kit.get("lab") if isinstance(kit, dict) and isinstance(kit.get("lab"), str) else None


def _python_of(source: str) -> str:
    """A cell as plain Python: IPython's `!cmd` and `%magic` become calls (which we look for)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _is_solution_cell(cell: NotebookNode) -> bool:
    nbgrader = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and isinstance(nbgrader, dict) \
        and bool(nbgrader.get("solution"))


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level functions and classes, and the methods of those classes ("Class.method")."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found[node.name] = node
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}.{item.name}"] = item
    return found


def _signature(node: ast.AST) -> str:
    return f"({ast.unparse(node.args)})" if isinstance(node, ast.FunctionDef) else ""


def graded_names(release: NotebookNode) -> dict[str, str]:
    """{name: signature} of what the released notebook's solution cells define."""
    names: dict[str, str] = {}
    for cell in release.cells:
        if _is_solution_cell(cell):
            try:
                tree = ast.parse(_python_of(cell.source))
            except SyntaxError:
                continue
            names |= {name: _signature(node) for name, node in _definitions(tree).items()}
    return names


def _raises_stub(node: ast.AST) -> bool:
    """A function whose body raises NotImplementedError (a class's methods count on their own)."""
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for statement in node.body:
        for inner in ast.walk(statement):
            if isinstance(inner, ast.Raise) and inner.exc is not None:
                target = inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc
                if isinstance(target, ast.Name) and target.id == "NotImplementedError":
                    return True
    return False


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else ""
        return f"{owner}.{func.attr}" if f"{owner}.{func.attr}" in READERS else func.attr
    return ""


def _file_and_shell_problems(tree: ast.Module, label: str) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        magic = node.args[0].value if name in MAGIC_CALLS and node.args \
            and isinstance(node.args[0], ast.Constant) else None  # fmt: skip
        if name in SHELL_CALLS or magic in OUTSIDE_MAGICS:
            problems.append(f"{label}: a shell command or magic (`!`, `%`): the grader does not "
                            "run it; do the work in Python or remove it")  # fmt: skip
        elif name in READERS and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):  # fmt: skip
            problems.append(f"{label}: reads {one_line(node.args[0].value, 80)!r}, which the "
                            "grader will not have (it runs your notebook alone); use courselib's "
                            "datasets or build the data in the notebook")  # fmt: skip
    return problems


def _cell_label(index: int, names: list[str]) -> str:
    """As the grader's feedback names cells: position from the top, text cells included."""
    return f"cell {index + 1}" + (f" ({', '.join(names[:3])})" if names else "")


def static_problems(nb: NotebookNode, expected: dict[str, str]) -> list[str]:
    problems: list[str] = []
    defined: dict[str, ast.AST] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_python_of(cell.source))
        except SyntaxError as error:
            problems.append(f"{_cell_label(index, [])}: SyntaxError: {one_line(error.msg, 200)} "
                            f"(line {error.lineno})")  # fmt: skip
            continue
        here = _definitions(tree)
        label = _cell_label(index, [name for name in here if "." not in name])
        defined |= here
        problems += _file_and_shell_problems(tree, label)
        for name, node in here.items():
            if name in expected and _raises_stub(node):
                problems.append(f"{label}: {name} still raises NotImplementedError: fill in "
                                "its TODO")  # fmt: skip
    for name, signature in expected.items():
        if name not in defined:
            problems.append(f"{name}{signature} is missing: keep the names the notebook gives")
        elif _signature(defined[name]) != signature:
            problems.append(f"{name}{_signature(defined[name])} should be {name}{signature}: "
                            "keep the signatures the notebook gives")  # fmt: skip
    return problems


def run_problems(nb: NotebookNode, limits: Limits) -> list[str]:
    """Run the notebook in a fresh kernel, in an empty folder, as the grader would; the first
    failure, if any."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    graded = nb.copy()
    graded.cells = [cell.copy() for cell in nb.cells]
    for cell in graded.cells:
        if cell.cell_type == "code" and set(cell_tags(cell)) & set(limits.skip_tags):
            cell.source = ""  # left out, as the grader leaves it out; cell positions unchanged
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-validate-") as folder:
            client = NotebookClient(graded, timeout=limits.cell_timeout_s, kernel_name="python3",
                                    resources={"metadata": {"path": folder}})  # fmt: skip
            client.execute(stderr=subprocess.DEVNULL)  # the kernel's own start-up chatter
    except CellTimeoutError:
        return [f"{_running_cell(graded)}: ran past the lab's {limits.cell_timeout_s:g} s per cell"]
    except CellExecutionError as error:
        what = f"{error.ename}: {error.evalue}" if error.evalue else error.ename
        return [f"{_running_cell(graded)}: {one_line(what, 300)}"]
    except DeadKernelError:
        return [f"{_running_cell(graded)}: the kernel died (out of memory?)"]
    seconds = time.monotonic() - started
    if seconds > limits.notebook_timeout_s:
        return [f"the notebook took {seconds:.0f} s, over the lab's {limits.notebook_timeout_s:g}"
                " s for the whole notebook"]  # fmt: skip
    return []


def _running_cell(nb: NotebookNode) -> str:
    """The cell nbclient stopped in (it writes outputs into `nb`): its position and what it
    defines."""
    cells = nb.cells
    index = next((i for i, cell in enumerate(cells)
                  if any(output.get("output_type") == "error" for output in cell.get("outputs", [])
                         )), None)  # fmt: skip
    if index is None:
        index = max((i for i, cell in enumerate(cells) if cell.get("execution_count")), default=0)
        index = next((i for i in range(index + 1, len(cells))
                      if cells[i].cell_type == "code" and cells[i].source.strip()), index)
    try:
        names = [name for name in _definitions(ast.parse(_python_of(cells[index].source)))
                 if "." not in name]  # fmt: skip
    except SyntaxError:
        names = []
    return _cell_label(index, names)


def validate(notebook: Path, release: NotebookNode, limits: Limits, run: bool = True) -> Report:
    """Every problem of `notebook` against the released notebook `release`."""
    return validate_names(notebook, graded_names(release), limits, run)


def validate_names(notebook: Path, expected: dict[str, str], limits: Limits,
                   run: bool = True) -> Report:  # fmt: skip
    """Every problem of `notebook`, given the graded {name: signature} of its release."""
    started = time.monotonic()
    try:
        nb = read_notebook(notebook)
    except NotebookError as error:
        return Report(Path(notebook), [str(error)], time.monotonic() - started)
    problems = static_problems(nb, expected)
    if run:
        problems += run_problems(nb, limits)
    return Report(Path(notebook), problems, time.monotonic() - started)


def validate_in_course(course: Course, notebook: Path, lab_id: str | None = None,
                       run: bool = True) -> Report:  # fmt: skip
    """Validate against the course's released notebook of the lab (`lab_id`, else the one the
    notebook names in its metadata, else the one its file is named after)."""
    notebook = Path(notebook)
    if not notebook.exists():
        raise ValidateError(f"{one_line(notebook, 300)}: no such file")
    if lab_id is None:
        try:
            lab_id = lab_of_notebook(read_notebook(notebook))
        except NotebookError:
            lab_id = None
        lab_id = lab_id or (notebook.stem if notebook.stem in course.labs else None)
        if lab_id is None:
            raise ValidateError(f"{one_line(notebook.name, 200)}: which lab is it? name it with "
                                f"--lab (labs: {', '.join(course.labs)})")  # fmt: skip
    lab = course.lab(lab_id)
    released = course.release_dir(lab_id) / f"{lab_id}.ipynb"
    if not released.is_file():
        raise ValidateError(f"{released}: {lab_id} is not released yet (autograder release "
                            f"{lab_id})")  # fmt: skip
    limits = Limits(lab.cell_timeout_s, lab.notebook_timeout_s, lab.skip_tags)
    return validate(notebook, read_notebook(released), limits, run)


# The student's copy: the release writes this module (with the core modules it imports) into
# release/<lab>/validate.pyz, with the lab's graded names and limits, so students run the same
# checks as `autograder validate` without the kit, the course or the hidden tests.
STUDENT_APP = "validate.pyz"
STUDENT_APP_MODULES = ("autograder/__init__.py", "autograder/core/__init__.py",
                       "autograder/core/errors.py",
                       "autograder/core/notebook.py", "autograder/core/safe_text.py",
                       "autograder/validate.py")  # fmt: skip


def student_main(argv: list[str], lab: dict) -> int:
    """`python validate.pyz [notebook] [--no-run]`, run in the student's release folder."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"python {STUDENT_APP}",
        description=f"Check your {lab['id']} notebook before submitting it: graded names and "
                    "signatures, TODOs left, files the grader will not have, and a run from top to "
                    "bottom in a fresh kernel within the lab's limits. It never sees hidden tests.",
    )  # fmt: skip
    parser.add_argument("notebook", nargs="?", type=Path, default=Path(f"{lab['id']}.ipynb"))
    parser.add_argument("--no-run", action="store_true", help="skip running the notebook")
    args = parser.parse_args(argv)
    if not args.notebook.exists():
        print(f"{one_line(args.notebook, 300)}: no such file")
        return 2
    limits = Limits(lab["cell_timeout_s"], lab["notebook_timeout_s"], tuple(lab["skip_tags"]))
    report = validate_names(args.notebook, lab["graded_names"], limits, run=not args.no_run)
    print("\n".join(report.lines()))
    return 1 if report.problems else 0
