"""`autograder import otter <master notebook>`: an Otter Assign (v1 format) master notebook as a lab
of this course.

- Blocks are read as Otter reads them: raw cells `# BEGIN QUESTION` ... `# END QUESTION` (or the
  same in a Markdown cell's ```otter fence), the ASSIGNMENT CONFIG with its `config_file`,
  SOLUTION, TESTS and PROMPT blocks, `# IGNORE` lines and ignored cells.
- Solutions keep their text inside the kit's (nbgrader's) markers: `# BEGIN SOLUTION` / `# END
  SOLUTION` comments become `### BEGIN SOLUTION` / `### END SOLUTION`, a line ending in `#
  SOLUTION` (or `# SOLUTION NO PROMPT`) becomes a region of its own, and a Markdown answer in a
  solution block becomes a written answer ("YOUR ANSWER HERE" in the release). Otter's prompts,
  test cells and markers leave the notebook (the kit's stubs and hidden tests replace them).
- Each test case becomes one hidden test worth the points Otter resolves for it; an
  `all_or_nothing` question becomes one test of all its cases. A test case runs in the
  submission's namespace, inside the sandbox, as Otter runs it (`autograder.testing`): in the OK
  format it is a doctest whose expected output is what the master notebook shows (so run the
  master before importing it, as before `otter assign`); in the exception-based format its
  function is called with the submission's values of its parameters.
- Each graded question gets one heading, `### 1.<k> <name> (<points> points)`, at its first cell.
  A question graded by hand (`manual`) whose answer is one Markdown cell is a written question
  (`autograder.core.written`: its points from the config, its answer the model answer), graded
  by TAs in `autograder review`; other questions graded by hand stay in the text, their answers
  hidden from the release, and are listed; so is every case the kit cannot run as Otter does.
- The config's `files` go with the lab; Otter's seeding before every cell (`seed`) is the lab's
  `cell_seed`; Otter's own check cells in a submission are not run with it.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbformat.v4 import new_markdown_cell, new_raw_cell

from autograder.authoring.course_init import InitError
from autograder.authoring.imported_lab import (
    SKIP_ORIGINAL_TESTS,
    Check,
    ImportedLab,
    ImportedTest,
    as_solution_region,
    check_kernel,
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
from autograder.authoring.stubs import BEGIN, END
from autograder.core.written import is_written_answer

BLOCK = re.compile(r"#\s+(begin|end)\s+(question|prompt|solution|tests)\s*", re.IGNORECASE)
CONFIG_CELL = re.compile(r"\s*#\s+ASSIGNMENT\s+CONFIG", re.IGNORECASE)
IGNORED_CELL = re.compile(r"(##\s*ignore\s*##\s*|#\s*ignore\s*)", re.IGNORECASE)
BEGIN_TEST_CONFIG = re.compile(r'(?:.\s*=\s*)?""?"?\s*#\s*BEGIN\s*TEST\s*CONFIG', re.IGNORECASE)
END_TEST_CONFIG = re.compile(r'""?"?\s*#\s*END\s*TEST\s*CONFIG', re.IGNORECASE)
OTTER_INCLUDE = "otter_include"


# ------------------------------------------------------------------ Otter's notebook format


def unfenced_cells(cells: list[Any]) -> list[Any]:
    """Markdown cells with ```otter fences split into Markdown and raw cells, as Otter reads
    them (otter.assign.blocks.extract_all_fenced_otter_cells)."""
    result = []
    for cell in cells:
        lines = cell.source.split("\n") if cell.cell_type == "markdown" else []
        if not any(line.strip() == "```otter" for line in lines):
            result.append(cell)
            continue
        text: list[str] = []
        fenced: list[str] | None = None
        for line in lines:
            if fenced is None and line.strip() == "```otter":
                if any(part.strip() for part in text):
                    result.append(new_markdown_cell("\n".join(text)))
                text, fenced = [], []
            elif fenced is not None and line.strip() == "```":
                result.append(new_raw_cell("\n".join(fenced)))
                fenced = None
            elif fenced is not None:
                fenced.append(line)
            else:
                text.append(line)
        if fenced is not None:
            raise InitError('an unclosed "```otter" block in a Markdown cell')
        if any(part.strip() for part in text):
            result.append(new_markdown_cell("\n".join(text).strip("\n")))
    return result


def block_boundary(cell: Any) -> tuple[str, str] | None:
    """("begin"|"end", "question"|"prompt"|"solution"|"tests") for a boundary cell."""
    if cell.cell_type != "raw" or not cell.source:
        return None
    match = BLOCK.match(cell.source.split("\n")[0])
    return (match.group(1).lower(), match.group(2).lower()) if match else None


def cell_config(cell: Any) -> dict:
    """The YAML after a raw cell's first line."""
    try:
        config = yaml.safe_load("\n".join(cell.source.split("\n")[1:])) or {}
    except yaml.YAMLError as error:
        raise InitError(f"an Otter config that is not YAML: {str(error).splitlines()[0]}") \
            from None  # fmt: skip
    if not isinstance(config, dict):
        raise InitError(f"an Otter config that is not a mapping: {cell.source[:80]!r}")
    return config


def without_ignored_lines(source: str) -> str:
    """Otter's `# IGNORE` lines and `# BEGIN IGNORE` ... `# END IGNORE` blocks removed."""
    kept, ignoring = [], False
    for line in source.split("\n"):
        if line.rstrip().endswith("# IGNORE"):
            continue
        if re.match(r"\s*#\s*BEGIN\s*IGNORE\s*", line, re.IGNORECASE):
            ignoring = True
        elif line.rstrip().endswith("# END IGNORE"):
            ignoring = False
        elif not ignoring:
            kept.append(line)
    return "\n".join(kept)


def kit_solution(source: str) -> str:
    """Otter's solution markers as the kit's: comments to `###` markers, `# SOLUTION` lines to
    one-line regions; Otter's prompt blocks (what students get instead) go, the kit's stubs
    take their place."""
    lines: list[str] = []
    in_prompt = False
    for line in source.split("\n"):
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if line.rstrip().endswith("# BEGIN PROMPT"):
            in_prompt = True
        elif line.rstrip().endswith("# END PROMPT"):
            in_prompt = False
        elif in_prompt:
            continue
        elif re.fullmatch(r"#\s*BEGIN SOLUTION(\s+NO PROMPT)?", stripped, re.IGNORECASE):
            lines.append(indent + BEGIN)
        elif re.fullmatch(r"#\s*END SOLUTION", stripped, re.IGNORECASE):
            lines.append(indent + END)
        elif re.search(r"#\s*SOLUTION(\s+NO PROMPT)?\s*$", line):
            code = re.sub(r"\s*#\s*SOLUTION(\s+NO PROMPT)?\s*$", "", line)
            lines += [indent + BEGIN, code, indent + END]
        else:
            lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------ test cases


class _AnnotationRemover(ast.NodeTransformer):
    """Type annotations removed, as Otter removes them from a test case's code."""

    def visit(self, node: Any) -> Any:
        self.generic_visit(node)
        for name in ("annotation", "returns", "type_params"):
            if hasattr(node, name):
                setattr(node, name, None if name != "type_params" else [])
        return node


def str_to_doctest(code_lines: list[str]) -> list[str]:
    """Code as doctest lines, as Otter writes them (otter.assign.utils.str_to_doctest)."""
    lines: list[str] = []
    for line in code_lines:
        if not line and not lines:
            continue
        if not line:
            continue
        continued = (line.startswith((" ", "\t", "elif ", "else:", "finally:"))
                     or re.match(r"^except[\s\w]*:", line)
                     or (lines and lines[-1].strip().endswith("\\")))  # fmt: skip
        lines.append(("... " if continued else ">>> ") + line)
    return lines


def master_output(cell: Any) -> str:
    """What the master shows for a test cell: streams and text/plain, as Otter collects it."""
    output = ""
    for item in cell.get("outputs", []):
        text = item.get("text", "")
        output += "".join(text) if isinstance(text, list) else str(text)
        shown = item.get("data", {}).get("text/plain")
        if shown and isinstance(shown, list):
            output += shown[0]
        elif shown:
            output += shown
    return output


def read_test_case(cell: Any, ok_format: bool, question: str) -> dict:
    """A test cell as Otter reads it (otter.assign.tests_manager.read_test): its code (a
    doctest, or the test function), hidden, points."""
    source = cell.source.split("\n")
    hidden = bool(source[0].lstrip().startswith("#")
                  and re.search(r"\bhidden\b", source[0], re.IGNORECASE))  # fmt: skip
    start = 0 if hidden else -1
    config: dict = {}
    if BEGIN_TEST_CONFIG.match(source[0]):
        end = next((index for index, line in enumerate(source) if END_TEST_CONFIG.match(line)),
                   len(source) - 1)  # fmt: skip
        config = yaml.safe_load("\n".join(source[1:end])) or {}
        start = end
    code = "\n".join(source[start + 1:])
    try:
        tree = ast.parse(code)
    except SyntaxError:
        raise InitError(f"{question}: a test cell that is not valid Python: {code[:80]!r}") \
            from None  # fmt: skip
    case = {"hidden": bool(config.get("hidden", hidden)), "points": config.get("points"),
            "name": config.get("name"), "code": code}  # fmt: skip
    if ok_format:
        unannotated = ast.unparse(_AnnotationRemover().visit(tree))
        lines = str_to_doctest(unannotated.split("\n")) + master_output(cell).split("\n")
        case.update(style="doctest", body="\n".join(lines))
    else:
        if len(tree.body) > 2 or not tree.body or not isinstance(tree.body[0], ast.FunctionDef):
            raise InitError(f"{question}: an exception-based test cell holds a function "
                            "definition and at most a call to it")  # fmt: skip
        case.update(style="function", body=ast.unparse(tree.body[0]), function=tree.body[0].name)
    return case


def resolve_points(question_points: Any, cases: list[dict]) -> list[float]:
    """Each case's points, as Otter resolves them (TestFile.resolve_test_file_points)."""
    given = [case["points"] for case in cases]
    total = question_points
    if isinstance(total, dict):
        total = float(total.get("each", 1)) * len(cases)
    if isinstance(total, list):
        if len(total) != len(cases):
            raise InitError(f"points lists {len(total)} values for {len(cases)} test cases")
        given, total = list(total), None
    specified = sum(points for points in given if points is not None)
    unset = sum(points is None for points in given)
    if total is not None:
        if specified > total:
            raise InitError(f"test cases worth {specified:g} points, more than the question's "
                            f"{float(total):g}")  # fmt: skip
        share = (float(total) - specified) / unset if unset else 0.0
    elif specified == 0 and all(points in (0, None) for points in given):
        share = 1 / unset if unset else 0.0  # nothing given: the question is worth 1 point
    else:
        share = 0.0
    return [float(points) if points is not None else share for points in given]


# ------------------------------------------------------------------ the master notebook


def assignment_config(cells: list[Any], master: Path) -> dict:
    """The ASSIGNMENT CONFIG, its `config_file` read first (the cell's own keys win)."""
    config: dict = {}
    for cell in cells:
        if cell.cell_type == "raw" and CONFIG_CELL.match(cell.source):
            own = cell_config(cell)
            if own.get("config_file"):
                path = master.parent / str(own["config_file"])
                try:
                    config.update(yaml.safe_load(path.read_text()) or {})
                except (OSError, yaml.YAMLError) as error:
                    raise InitError(f"{path}: the master's config_file cannot be read ({error})") \
                        from None  # fmt: skip
            config.update(own)
    return config


def _seed_setting(config: dict) -> dict:
    """Otter seeds NumPy and `random` before every cell when grading (`seed`, or the older
    `generate: seed`), or sets a variable to the seed (`seed: variable`)."""
    seed = config.get("seed")
    generate = config.get("generate") if isinstance(config.get("generate"), dict) else {}
    if isinstance(seed, dict):
        value, variable = seed.get("autograder_value"), seed.get("variable")
    else:
        value, variable = seed if seed is not None else generate.get("seed"), None
    if value is None:
        return {}
    return {"cell_seed": int(value), **({"cell_seed_variable": str(variable)} if variable else {})}


class _Question:
    def __init__(self, config: dict, first: int):
        self.config, self.first, self.cases = config, first, []
        self.name = str(config.get("name", ""))
        self.solution_cells = 0


def read_otter(path: Path, lab_id: str | None = None) -> ImportedLab:
    if not path.is_file():
        raise InitError(f"{path}: no such notebook; give the Otter Assign master notebook")
    nb = read_notebook(path)
    check_kernel(nb, path)
    cells_in = [cell for cell in unfenced_cells(nb.cells)  # Otter's ignored cells go
                if not (cell.source and IGNORED_CELL.match(cell.source.split("\n")[0]))]
    config = assignment_config(cells_in, path)
    ok_format = bool((config.get("tests") or {}).get("ok_format", True))
    if ok_format and not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"):
        raise InitError(f"{path}: the master shows no outputs: run it (Run All), save it and "
                        "import it again; Otter's test cases expect the outputs it shows")
    student_files = [str(name) for name in config.get("student_files") or []]
    cells: list = []
    tests: list[ImportedTest] = []
    notes: list[str] = []
    student_names: set[str] = set()
    given_names: set[str] = set()
    question: _Question | None = None
    block: str | None = None
    positions: dict[str, int] = {}  # question: how many cells stood before its end
    for cell in cells_in:
        boundary = block_boundary(cell)
        if cell.cell_type == "raw" and CONFIG_CELL.match(cell.source):
            continue
        if boundary and boundary[1] == "question":
            if boundary[0] == "begin":
                question = _Question(cell_config(cell), len(cells))
                question.name = question.name or f"q{len(tests) + 1}"
            elif question is not None:
                _end_question(question, cells, tests, notes, student_files)
                positions[question.name] = len(cells)
                question = None
            continue
        if boundary:
            block = boundary[1] if boundary[0] == "begin" else None
            continue
        if block == "tests" and question is not None:
            if cell.cell_type == "code":
                question.cases.append(read_test_case(cell, ok_format, question.name))
            continue
        cell = copy.deepcopy(cell)
        cell.metadata.pop("execution", None)  # the master's run times
        cell.source = without_ignored_lines(cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if block == "prompt":
            if cell.cell_type == "code":  # a starter for students: the kit's stub replaces it
                continue
        elif block == "solution" and question is not None:
            cell = _solution_cell(cell, question)
            if cell.cell_type == "code" and BEGIN in cell.source:
                student_names |= defined_names(cell.source)
        elif cell.cell_type == "code":
            given_names |= defined_names(cell.source)
        if cell.cell_type == "markdown":
            cell.source = plain_heading_points(cell.source)
        cells.append(cell)
    if not tests:
        raise InitError(f"{path}: no Otter questions with test cases to turn into hidden tests")
    for test in tests:
        end = positions.get(test.question.split(" ", 1)[1], len(cells))
        later = [c.source for c in cells[end:] if c.cell_type == "code"]
        for check in test.checks:
            changed = later_changes(check, later)
            if changed:
                notes.append(f"{check.label}: reads {', '.join(changed)}, which a later cell "
                             "binds again: Otter checks a question where it stands, the kit "
                             "after the whole notebook")  # fmt: skip
    mark_free_tests(tests, student_names, given_names, "Otter")
    notes += [f"{test.name}: {test.passes_on_blank}" for test in tests if test.passes_on_blank]
    lab_id = lab_id or python_name(str(config.get("name") or path.stem))
    out = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(nb.metadata))
    title = first_heading(out) or lab_id  # Otter's own blocks are gone by now
    out.metadata["title"] = title
    files = {}
    for name in [str(name) for name in config.get("files") or []]:
        source = path.parent / name
        if not source.is_file():
            raise InitError(f"{source}: a file the master's config lists (files) is missing")
        files[Path(name).name] = source
    notes += files_read_by_code(cells, files)
    for name in config.get("autograder_files") or []:
        notes.append(f"{name}: a file for Otter's grader only (autograder_files): the kit grades "
                     "the notebook alone, without it")  # fmt: skip
    settings: dict[str, object] = {"skip_tags": SKIP_ORIGINAL_TESTS, **_seed_setting(config)}
    return ImportedLab(lab_id, title, out, tests, "Otter", path.name, settings, files, notes)


def _solution_cell(cell: Any, question: _Question) -> Any:
    """A cell of a solution block: code with the kit's markers; a Markdown answer (unless
    tagged otter_include) a written answer."""
    if cell.cell_type == "code":
        cell.source = kit_solution(cell.source)
        if BEGIN not in cell.source:
            return cell
    elif cell.cell_type != "markdown" or OTTER_INCLUDE in cell.metadata.get("tags", []):
        return cell
    else:
        cell.source = as_solution_region(cell.source)
    question.solution_cells += 1
    name = python_name(question.name)
    grade_id = f"{name}_{question.solution_cells}" if question.solution_cells > 1 else name
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                 "schema_version": 3, "solution": True, "task": False}  # fmt: skip
    return cell


def _reads_student_file(code: str, student_files: list[str]) -> str | None:
    for name in student_files:
        if Path(name).name in code or re.search(rf"\b{re.escape(Path(name).stem)}\b", code):
            return name
    return None


def _end_question(question: _Question, cells: list, tests: list[ImportedTest], notes: list[str],
                  student_files: list[str]) -> None:  # fmt: skip
    name, config = question.name, question.config
    number = len({test.question for test in tests}) + sum(map(is_written_answer, cells)) + 1
    if config.get("manual"):
        points = config.get("points")
        answers = [cell for cell in cells[question.first:] if cell.cell_type == "markdown"
                   and (cell.metadata.get("nbgrader") or {}).get("solution")]  # fmt: skip
        solutions = [cell for cell in cells[question.first:]
                     if (cell.metadata.get("nbgrader") or {}).get("solution")]  # fmt: skip
        has_points = isinstance(points, int | float) and not isinstance(points, bool) \
            and points > 0
        if len(answers) == len(solutions) == 1 and has_points:
            # one answer in words: a written question, graded by TAs in `autograder review`
            answers[0].metadata["nbgrader"] |= {"grade": True, "points": points}
            cells.insert(question.first, new_markdown_cell(
                f"### 1.{number} {name} ({points_text(float(points))})"))  # fmt: skip
            return
        why = "without points in its config" if not has_points else \
            "its answer not one Markdown cell"
        worth = f" ({points_text(float(points))})" if has_points else ""
        notes.append(f"{name}: graded by hand in Otter{worth}, {why}: kept in the text, not "
                     "graded by the kit")  # fmt: skip
        return
    if not question.cases:
        return  # Otter grades nothing here either
    points = resolve_points(config.get("points"), question.cases)
    label = f"1.{number} {name}"
    checks: list[tuple[Check, float]] = []
    for index, (case, case_points) in enumerate(zip(question.cases, points), start=1):
        what = f"{name} test case {index}"
        student_file = _reads_student_file(case["code"], student_files)
        if student_file:
            notes.append(f"{what}: reads {student_file}, a file Otter's students hand in beside "
                         "the notebook (student_files): the kit grades the notebook alone, so "
                         "this case is not imported")  # fmt: skip
            continue
        checks.append((Check(case["style"], case["body"], what,
                             function=case.get("function", "")), case_points))  # fmt: skip
    if config.get("all_or_nothing"):
        total = sum(points)
        if total > 0 and checks:
            tests.append(ImportedTest(python_name(name), label, total,
                                      [check for check, _ in checks]))  # fmt: skip
    else:
        for check, case_points in checks:
            if case_points > 0:
                tests.append(ImportedTest(python_name(check.label), label, case_points, [check]))
    total = sum(test.points for test in tests if test.question == label)
    if total > 0:
        cells.insert(question.first, new_markdown_cell(f"### {label} ({points_text(total)})"))


def import_otter(course_root: Path, path: Path, lab_id: str | None = None) -> list[str]:
    lab = read_otter(path, lab_id)
    return write_lab(course_root, lab) + [f"{lab.lab_id}: {note}" for note in lab.notes]
