"""A lab imported from another tool (`import_nbgrader`, `import_otter`): what the importers share,
and writing the lab into the course.

An imported lab is the assignment's notebook with the kit's solution markers and question
headings, its files (images, data) beside it, and one hidden test per graded test cell (or per
Otter question graded all-or-nothing) that runs the original cell in the submission's namespace,
inside the sandbox, and judges what it did as the original tool does (`autograder.testing`).
Everything the kit cannot do as the original does is said at import, one line per cell.
"""

from __future__ import annotations

import ast
import builtins
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.authoring.course_init import CONFTEST, LAB_ID, InitError, add_lab_to_config
from autograder.authoring.course_init import lab_entry as config_lab_entry
from autograder.authoring.stubs import BEGIN, END, has_regions
from autograder.core.config import CONFIG_FILE
from autograder.core.notebook import without_magics
from autograder.core.written import written_points
from autograder.judging.imported_labs import ORIGINAL_TESTS_TAG

POINTS_HEADING = re.compile(r"^(#{1,6}\s.*?)\s*\((\d+(?:\.\d+)?) points?\)\s*$", re.MULTILINE)
FREE_REASON = "the {what} reads nothing a student writes: {tool} passes it on every notebook too"


@dataclass
class Check:
    """One original test cell (or Otter test case), as the hidden test runs it."""

    style: str  # "cell" (nbgrader), "doctest" or "function" (Otter): autograder.testing
    code: str  # the cell, the doctest (code and expected output), or the test function
    label: str  # how messages name it ("test cell correct_squares", "q1 test case 2")
    points: float = 0.0  # nbgrader: the cell's points (its partial credit is out of them)
    function: str = ""  # Otter's exception-based format: the test function's name


@dataclass
class ImportedTest:
    """One hidden test: its checks must all pass (one check, or an all-or-nothing question)."""

    name: str  # the test function's name, without test_
    question: str
    points: float
    checks: list[Check]
    passes_on_blank: str = ""  # why the original tool passes it on every notebook, if it does


@dataclass
class ImportedLab:
    lab_id: str
    title: str
    notebook: nbformat.NotebookNode
    tests: list[ImportedTest]
    origin: str  # "nbgrader" or "Otter", and where from: for the test file's docstring
    source: str
    settings: dict[str, object] = field(default_factory=dict)  # course_config.py lab settings
    files: dict[str, Path] = field(default_factory=dict)  # name in the lab's folder: the file
    notes: list[str] = field(default_factory=list)  # what differs from the original, and why

    @property
    def points(self) -> float:
        """The hidden tests' points and the written questions' (graded by TAs)."""
        return sum(test.points for test in self.tests) + written_points(self.notebook)


# ------------------------------------------------------------------ reading notebooks


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """An assignment's notebook. Cells without ids (notebooks written before nbformat 4.5)
    get stable ones here instead of nbformat's warning on the terminal."""
    from nbformat.validator import MissingIDFieldWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nb = nbformat.read(str(path), as_version=4)
    except Exception as error:  # noqa: BLE001 - anything unreadable is one line
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise InitError(f"{path}: not a readable notebook ({type(error).__name__}: {first})") \
            from None
    nb.nbformat_minor = max(int(nb.get("nbformat_minor", 0)), 5)
    for index, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{index:03d}")
    return nb


def check_kernel(nb: nbformat.NotebookNode, path: Path) -> str:
    """The notebook's kernel name; a notebook for another language is refused in one line."""
    spec = nb.metadata.get("kernelspec") or {}
    language = str(spec.get("language") or nb.metadata.get("language_info", {}).get("name")
                   or "python")  # fmt: skip
    if language.lower() != "python":
        raise InitError(f"{path}: a notebook for the {spec.get('display_name') or language} "
                        f"kernel ({language}); the kit grades Python notebooks only")  # fmt: skip
    return str(spec.get("name") or "python3")


def first_heading(nb: nbformat.NotebookNode) -> str | None:
    """The notebook's title: its first level-1 Markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


def python_name(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_").lower() or "cell"
    return name if name[0].isalpha() else f"t_{name}"


def plain_heading_points(source: str) -> str:
    """Headings that are not the kit's question headings must not end in "(N points)"."""
    return POINTS_HEADING.sub(lambda match: f"{match.group(1)} [{match.group(2)} points]", source)


def as_solution_region(source: str) -> str:
    """A cell whose whole content is the answer (nbgrader's solution cell without markers,
    a written answer, an answer graded by hand): the whole content becomes one region."""
    if has_regions(source):
        return source
    return f"{BEGIN}\n{source}\n{END}"


# ------------------------------------------------------------------ what a test cell reads


def _parsed(source: str) -> ast.Module | None:
    try:
        return ast.parse(without_magics(source))
    except SyntaxError:
        return None


def defined_names(source: str) -> set[str]:
    """Names a cell binds at its top level (functions, classes, assignments, imports)."""
    tree = _parsed(source)
    names: set[str] = set()
    for node in tree.body if tree else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            for leaf in ast.walk(node):
                if isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store | ast.Del):
                    names.add(leaf.id)
    return names


def read_names(source: str) -> set[str] | None:
    """Names a cell reads that it does not bind itself (None: the cell does not parse)."""
    tree = _parsed(source)
    if tree is None:
        return None
    loaded = {node.id for node in ast.walk(tree)
              if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}  # fmt: skip
    bound = defined_names(source)
    for node in ast.walk(tree):  # parameters and names local to functions and comprehensions
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return loaded - bound


def _reads(check: Check) -> set[str] | None:
    """The names of the submission's namespace a check reads (None: cannot tell)."""
    if check.style == "function":  # Otter passes the namespace's values of its parameters
        tree = _parsed(check.code)
        function = next((node for node in tree.body if isinstance(node, ast.FunctionDef)),
                        None) if tree else None  # fmt: skip
        return {arg.arg for arg in function.args.args} if function else None
    if check.style == "doctest":
        return read_names(_doctest_code(check.code))
    return read_names(check.code)


def reads_no_answer(check: Check, student_names: set[str], given_names: set[str]) -> bool:
    """True when a check reads only built-ins and names the lab's given code binds (its imports
    and data), none a student's cells bind: it then does the same on every notebook."""
    names = _reads(check)
    if names is None or "env" in names and check.style == "function":
        return False
    return all(name not in student_names and (name in given_names or name in dir(builtins))
               for name in names)  # fmt: skip


def mark_free_tests(tests: list[ImportedTest], student_names: set[str], given_names: set[str],
                    tool: str) -> None:  # fmt: skip
    """Mark the tests that read nothing a student writes: the original tool passes them on
    every notebook (the release accepts them passing on the blank one)."""
    what = "test cell" if tool == "nbgrader" else "test case"
    for test in tests:
        if all(reads_no_answer(check, student_names, given_names) for check in test.checks):
            test.passes_on_blank = FREE_REASON.format(what=what, tool=tool)


def _doctest_code(text: str) -> str:
    import doctest

    return "\n".join(example.source for example in doctest.DocTestParser().get_examples(text))


def later_changes(check: Check, later_sources: list[str]) -> list[str]:
    """Names a check reads that a cell after it binds again: the original tool ran the check
    before that cell, the kit runs it after the whole notebook."""
    names = _reads(check) or set()
    later: set[str] = set()
    for source in later_sources:
        later |= defined_names(source)
    return sorted(names & later)


def files_read_by_code(cells: list, files: dict[str, Path]) -> list[str]:
    """One line per lab file a code cell names: released to students, but the grader runs the
    notebook alone (see `autograder validate`), so that cell fails there."""
    return [f"{name}: a code cell reads it; students get it with the release, but the grader "
            "runs the notebook without the lab's files, so that cell fails when graded"
            for name in sorted(files) if any(cell.cell_type == "code" and Path(name).name
                                             in cell.source for cell in cells)]  # fmt: skip


# ------------------------------------------------------------------ the hidden tests' file


TEST_FILE = '''"""Hidden tests of {lab_id}, imported from {origin} ({source}).

Each test runs original test cells in the submission's namespace, inside the sandbox, and gives
the points {origin} gives (`autograder.testing`).
"""

import pytest

from autograder.testing import {imports}
'''

CALLS = {
    "cell": "run_nbgrader_cell(sub, {code}, {points}, {label!r})",
    "doctest": "run_otter_doctest(sub, {code}, {label!r})",
    "function": "run_otter_function(sub, {code}, {function!r}, {label!r})",
}
FUNCTIONS = {"cell": "run_nbgrader_cell", "doctest": "run_otter_doctest",
             "function": "run_otter_function"}  # fmt: skip


def _literal(source: str) -> str:
    """Code as a readable triple-quoted literal (repr when it cannot be one)."""
    for quotes in ('"""', "'''"):
        if quotes not in source and "\\" not in source and not source.endswith(quotes[0]):
            return f"{quotes}\\\n{source}\n{quotes}"
    return repr(source)


def points_literal(points: float) -> str:
    return f"{points:g}" if float(points).is_integer() else repr(float(points))


def points_text(points: float) -> str:
    return f"{points:g} point" if points == 1 else f"{points:g} points"


def test_file(lab: ImportedLab) -> str:
    """The lab's hidden tests: each original cell as a constant, then the test that runs it."""
    styles = sorted({check.style for test in lab.tests for check in test.checks})
    text = TEST_FILE.format(lab_id=lab.lab_id, origin=lab.origin, source=lab.source,
                            imports=", ".join(FUNCTIONS[style] for style in styles))  # fmt: skip
    used: set[str] = set()

    def unique(name: str) -> str:
        while name in used:
            name += "_"
        used.add(name)
        return name

    for test in lab.tests:
        name = unique(f"test_{test.name}")
        constants = [unique(python_name(check.label).upper()) for check in test.checks]
        text += "\n"
        for constant, check in zip(constants, test.checks):
            text += f"\n{constant} = {_literal(check.code)}\n"
        text += f"\n\n@pytest.mark.question({test.question!r})\n"
        text += f"@pytest.mark.points({points_literal(test.points)})\n"
        if test.passes_on_blank:
            text += f"@pytest.mark.passes_on_blank({test.passes_on_blank!r})\n"
        text += f"def {name}(sub):\n"
        for constant, check in zip(constants, test.checks):
            text += "    " + CALLS[check.style].format(
                code=constant, points=points_literal(check.points), label=check.label,
                function=check.function) + "\n"  # fmt: skip
    return text


# ------------------------------------------------------------------ writing the lab


SETTING_COMMENTS = {
    "cell_timeout_s": "nbgrader's 30 s per cell",
    "test_timeout_s": "and per test cell",
    "wall_factor": "of wall-clock time, as in nbgrader (higher: CPU time alone counts)",
    "skip_tags": "the tool's own test cells in a submission are not run",
    "cell_seed": "Otter's grader seeds NumPy and random with it before every cell",
    "cell_seed_variable": "Otter's grader sets this name to the seed before every cell",
}


def lab_entry(lab: ImportedLab) -> str:
    """The lab's course_config.py entry: the kit's defaults, and the settings of the original
    tool that a grade depends on (time limits, the cells it runs itself), commented."""
    entry = config_lab_entry(lab.lab_id, lab.title, lab.points,
                             comment=f"imported from {lab.origin} ({lab.source})")  # fmt: skip
    lines = entry.splitlines()
    extra = [f"    {key!r}: {value!r},".replace("'", '"') + f"  # {SETTING_COMMENTS[key]}"
             for key, value in lab.settings.items()]  # fmt: skip
    return "\n".join([*lines[:-1], *extra, lines[-1]])


def check_writable(course_root: Path, lab: ImportedLab) -> tuple[Path, Path]:
    """The lab's notebook and tests paths, when the lab can be written into the course; else
    one line saying why (nothing is written)."""
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
    return notebook, tests


def write_lab(course_root: Path, lab: ImportedLab) -> list[str]:
    """The lab's source notebook and files, hidden tests and course_config entry; the paths
    written."""
    notebook, tests = check_writable(course_root, lab)
    add_lab_to_config(course_root, lab_entry(lab), lab.lab_id)
    notebook.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(lab.notebook, str(notebook))
    for name, path in sorted(lab.files.items()):
        (notebook.parent / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, notebook.parent / name)
    tests.parent.mkdir(parents=True, exist_ok=True)
    tests.write_text(test_file(lab))
    conftest = course_root / "tests" / "conftest.py"
    if not conftest.exists():
        conftest.write_text(CONFTEST)
    written = [f"{CONFIG_FILE} (lab {lab.lab_id}, {lab.points:g} points)",
               str(notebook.relative_to(course_root)), str(tests.relative_to(course_root))]
    written += [str((notebook.parent / name).relative_to(course_root))
                for name in sorted(lab.files)]
    return written


SKIP_ORIGINAL_TESTS = ["demo", ORIGINAL_TESTS_TAG]
