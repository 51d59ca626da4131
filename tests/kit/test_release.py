"""`autograder release`: stubs, solutions, refusals, determinism and freshness of release/."""

import json
import re

import nbformat
import pytest
from course_files import SOLUTION_CELL, tiny_notebook

from autograder.authoring.release import ReleaseError, release_lab, stale_files
from autograder.authoring.stubs import SourceError, stub_source
from autograder.cli import main
from autograder.core.config import load_course


def _write_source(course_root, solution):
    nbformat.write(tiny_notebook(solution), course_root / "source" / "tiny" / "tiny.ipynb")


def test_stub_keeps_todo_lines_and_indentation():
    stub = stub_source(SOLUTION_CELL, "cell 2")
    assert stub.splitlines() == [
        "def double(x):",
        '    """Twice x."""',
        "    # TODO: multiply x by two.",
        "    raise NotImplementedError()",
    ]


def test_region_without_todo_gets_a_generic_one():
    stub = stub_source("x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION", "cell 0")
    assert stub == "x = 1\n# TODO: your code here\nraise NotImplementedError()"


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "is never closed"),
        ("x = 1\n### END SOLUTION", "line 2: ### END SOLUTION without a ### BEGIN SOLUTION"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside an open solution region"),
    ],
)
def test_unbalanced_markers_are_refused(source, message):
    with pytest.raises(SourceError, match=message):
        stub_source(source, "cell 3")


def test_release_writes_stubs_solutions_and_student_files(tiny_course):
    course = load_course(tiny_course)
    summary = release_lab(course, "tiny")
    assert summary.tests_checked == 1 and summary.solution_executed
    student = nbformat.read(tiny_course / "release/tiny/tiny.ipynb", as_version=4)
    text = json.dumps(student)
    assert "raise NotImplementedError()" in text and "result_of_doubling" not in text
    assert "BEGIN SOLUTION" not in text
    cell = student.cells[2]
    assert cell.metadata.nbgrader["solution"] is True and cell.outputs == []
    assert student.cells[4].metadata.tags == ["demo"]
    solution = nbformat.read(tiny_course / "solutions/tiny/tiny.ipynb", as_version=4)
    assert "BEGIN SOLUTION" not in json.dumps(solution)
    assert solution.cells[4].outputs[0]["text"] == "demo ran\n", "demo cells run in the solution"
    files = sorted(path.name for path in (tiny_course / "release/tiny").iterdir())
    wheel = next(name for name in files if name.startswith("courselib-"))
    assert re.fullmatch(r"courselib-0\.1\.0\+src\.[0-9a-f]{10}-py3-none-any\.whl", wheel)
    assert files == ["README.md", wheel, "requirements-jupyter.txt", "requirements.txt",
                     "tiny.ipynb", "validate.pyz"]
    requirements = (tiny_course / "release/tiny/requirements.txt").read_text().splitlines()
    assert f"./{wheel}" in requirements and "torch==2.13.0" in requirements
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    pins = [line for line in requirements if not line.startswith(("#", "--", "./"))]
    assert all("==" in line for line in pins), "every requirement pinned"
    assert not any(line.lower().startswith(("jupyter", "ipykernel", "tornado")) for line in pins), (
        "Jupyter is pinned apart, so that Colab's own Jupyter is left alone")
    jupyter = (tiny_course / "release/tiny/requirements-jupyter.txt").read_text()
    assert "jupyterlab==" in jupyter and "ipykernel==" in jupyter
    assert "python validate.pyz tiny.ipynb" in student.cells[0].source, "the first cell says how to check"


def test_release_twice_changes_no_byte(tiny_course):
    course = load_course(tiny_course)
    release_lab(course, "tiny")
    before = {path: path.read_bytes() for path in tiny_course.glob("*/tiny/*") if path.is_file()}
    again = release_lab(course, "tiny")
    assert again.files_written == [] and not again.solution_executed
    forced = release_lab(course, "tiny", force=True)
    assert forced.solution_executed and forced.files_written == [], "execution is reproducible"
    after = {path: path.read_bytes() for path in tiny_course.glob("*/tiny/*") if path.is_file()}
    assert before == after
    assert stale_files(course, "tiny") == []


def test_editing_the_source_makes_the_release_stale(tiny_course):
    course = load_course(tiny_course)
    release_lab(course, "tiny", check_tests=False)
    _write_source(tiny_course, SOLUTION_CELL.replace("Twice x.", "Two times x."))
    assert stale_files(course, "tiny") == ["release/tiny/tiny.ipynb", "solutions/tiny/tiny.ipynb"]


def test_release_refuses_solution_text_left_in_the_release(tiny_course):
    # The solution line copied outside its region would reach students.
    _write_source(tiny_course, SOLUTION_CELL + "\nresult_of_doubling_the_input = 2 * x")
    with pytest.raises(ReleaseError, match="would still contain solution text"):
        release_lab(load_course(tiny_course), "tiny")


def test_release_refuses_unbalanced_markers_in_the_source(tiny_course):
    _write_source(tiny_course, SOLUTION_CELL.replace("    ### END SOLUTION", ""))
    with pytest.raises(ReleaseError, match=r"source/tiny/tiny.ipynb: cell 2: .* is never closed"):
        release_lab(load_course(tiny_course), "tiny")


def test_release_refuses_tests_that_pass_on_the_blank_notebook(tiny_course):
    (tiny_course / "tests/tiny/test_tiny.py").write_text(
        "import pytest\n\n@pytest.mark.question('doubling')\n@pytest.mark.points(2)\ndef test_nothing(sub):\n    assert True\n"
    )
    with pytest.raises(ReleaseError, match="hidden tests pass on the blank notebook: test_nothing"):
        release_lab(load_course(tiny_course), "tiny")
    assert not (tiny_course / "release/tiny").exists(), "a refused release writes nothing"


def test_release_refuses_tests_that_fail_on_the_solution(tiny_course):
    (tiny_course / "tests/tiny/test_tiny.py").write_text(
        "import pytest\n\n@pytest.mark.question('doubling')\n@pytest.mark.points(2)\ndef test_wrong(sub):\n"
        "    assert sub.double(2) == 5, 'double(2) should be 5'\n"
    )
    with pytest.raises(ReleaseError, match=r"fail on the solution: test_wrong \(double\(2\) should be 5\)"):
        release_lab(load_course(tiny_course), "tiny")


def test_cli_reports_refusals_in_one_line(tiny_course, capsys):
    _write_source(tiny_course, "### BEGIN SOLUTION\nx = 1")
    assert main(["--course", str(tiny_course), "release", "tiny"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("autograder: error: ") and error.count("\n") == 1


def test_committed_releases_match_their_sources():
    course = load_course()
    stale = {lab: stale_files(course, lab) for lab in course.labs}
    assert all(not files for files in stale.values()), (
        f"release/ or solutions/ is stale, run `autograder release --all`: {stale}"
    )


@pytest.mark.parametrize("folder", ["source", "release"])
def test_nbgrader_accepts_the_notebooks(folder):
    from nbgrader.preprocessors import CheckCellMetadata

    course = load_course()
    for lab_id in course.labs:
        nb = nbformat.read(course.root / folder / lab_id / f"{lab_id}.ipynb", as_version=4)
        CheckCellMetadata().preprocess(nb, {})  # raises on invalid nbgrader metadata
        solution_cells = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")]
        assert solution_cells, f"{folder}/{lab_id}: no nbgrader solution cells"
