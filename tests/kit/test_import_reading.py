"""How `autograder import nbgrader` and `import otter` read the two projects' own assignments
(tests/kit/import_fixtures), without running the original tools: test_import_tools.py grades them
with both."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.authoring.course_init import InitError
from autograder.authoring.import_nbgrader import import_nbgrader, read_nbgrader
from autograder.authoring.import_otter import read_otter, resolve_points
from autograder.core.config import ConfigError, load_course
from autograder.core.written import WrittenQuestion, written_questions
from autograder.judging.hidden_tests import check_points
from autograder.records.gradebook import Gradebook
from autograder.review.state import LabReview

FIXTURES = Path(__file__).parent / "import_fixtures"
DOCS = FIXTURES / "nbgrader-docs"


def cells_by_grade_id(nb) -> dict[str, str]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id")}  # fmt: skip


def test_autotest_lines_expand_as_nbgrader_expands_them():
    """The expanded test cells equal those of nbgrader's own release of ps1_autotest (in the
    made-here blank), but for the salts of the hashed lines, which depend on the cell's place."""
    lab = read_nbgrader(DOCS / "source/ps1_autotest/problem1.ipynb")
    nbgrader_release = nbformat.read(
        str(FIXTURES / "submissions/ps1_autotest/blank/ps1_autotest/problem1.ipynb"), 4)
    released = cells_by_grade_id(nbgrader_release)
    hashed = re.compile(r'b"[0-9a-f]+"\)\.hexdigest\(\) == """[0-9a-f]{40}"""')
    for test in lab.tests:
        grade_id = test.question.split(" ", 1)[1]
        ours = [hashed.sub("HASH", line) for line in test.checks[0].code.splitlines()]
        theirs = [hashed.sub("HASH", line) for line in released[grade_id].splitlines()]
        assert ours == theirs, grade_id
    assert any("HASH" in hashed.sub("HASH", test.checks[0].code) for test in lab.tests)
    assert all("### AUTOTEST" not in cell.source for cell in lab.notebook.cells)


def test_a_markdown_answer_graded_by_hand_is_a_written_question_and_the_rest_are_named(tmp_path):
    lab = read_nbgrader(DOCS / "source/ps1/problem1.ipynb")
    sources = cells_by_grade_id(lab.notebook)
    # whole-cell answers, as nbgrader clears them: the release keeps the question, not the answer
    assert sources["sum_of_squares_application"].startswith("### BEGIN SOLUTION\ndef pyramidal")
    assert sources["sum_of_squares_equation"] == "### BEGIN SOLUTION\n$\\sum_{i=1}^n i^2$\n" \
                                                 "### END SOLUTION"  # fmt: skip
    # Part C, nbgrader's manually graded Markdown answer: a written question with its heading,
    # grade_id and points, its answer the model answer, no mark scheme (an empty rubric)
    assert written_questions(lab.notebook) == [WrittenQuestion(
        "1.5 sum_of_squares_equation", 1.0, "sum_of_squares_equation",
        lab.notebook.cells.index(next(cell for cell in lab.notebook.cells
                                      if cell.source == sources["sum_of_squares_equation"])),
        "$\\sum_{i=1}^n i^2$")]  # fmt: skip
    # the code answer and the task graded by hand stay listed
    assert [note.split(":")[0] for note in lab.notes] == [
        "sum_of_squares_application", "cell-938593c4a215c6cc"]
    assert all(len(note.splitlines()) == 1 for note in lab.notes)
    assert [(test.question, test.points) for test in lab.tests] == [
        ("1.1 correct_squares", 1), ("1.2 squares_invalid_input", 1),
        ("1.3 correct_sum_of_squares", 0.5), ("1.4 sum_of_squares_uses_squares", 0.5)]
    assert lab.points == 4  # the tests' 3 and the written answer's 1
    assert set(lab.files) == {"jupyter.png"}
    assert lab.settings == {"cell_timeout_s": 30, "test_timeout_s": 30, "wall_factor": 1,
                            "skip_tags": ["demo", "original-tool-test"]}  # fmt: skip


def test_a_folder_of_notebooks_is_one_lab_each_and_one_without_tests_is_named(tmp_path):
    course = tmp_path / "course"
    subprocess.run([sys.executable, "-m", "autograder.cli", "init", str(course)], check=True,
                   capture_output=True)  # fmt: skip
    written = import_nbgrader(course, DOCS / "source/ps1")
    assert "source/problem1/problem1.ipynb" in written and "source/problem1/jupyter.png" in written
    assert written[-1] == ("problem2.ipynb: no autograder test cells, only cells graded by hand "
                           "(part-a 1 point, part-b 2 points): not imported, a lab needs at "
                           "least one test cell")  # fmt: skip
    with pytest.raises(InitError, match="2 notebooks; --lab names one lab"):
        import_nbgrader(course, DOCS / "source/ps1", "other")
    loaded = load_course(course)
    assert loaded.lab("problem1").points == 4 and check_points(loaded, "problem1") == 4
    # the review app opens the written question with an empty rubric, for TAs to fill in
    gradebook = Gradebook.for_course(loaded, f"sqlite:///{tmp_path / 'gradebook.sqlite'}")
    review = LabReview(loaded, "problem1", gradebook, lambda student: student)
    review.refresh()
    assert [(q.name, q.kind) for q in review.questions] == [
        ("1.5 sum_of_squares_equation", "written")]  # no grading runs yet: no tested questions
    assert review.manual.rubric("1.5 sum_of_squares_equation") == []


def test_hidden_tests_leave_the_visible_check_and_a_test_reading_no_answer_is_marked():
    nb = new_notebook(cells=[
        new_markdown_cell("## Part A (2 points)"),
        new_code_cell("import math"),
        nbgrader_cell(new_code_cell("### BEGIN SOLUTION\nr = 2.0\n### END SOLUTION"), "radius",
                      solution=True),
        nbgrader_cell(new_code_cell("assert r > 0\n### BEGIN HIDDEN TESTS\nassert r == 2.0\n"
                                    "### END HIDDEN TESTS"), "positive", grade=True, points=1),
        nbgrader_cell(new_code_cell("assert math.pi > 3\nprint('Success!')"), "free", grade=True,
                      points=1),
        new_code_cell("r = 3.0"),  # a later cell binds r again
        new_code_cell("rows = open('data.csv').read()"),
    ], metadata={"kernelspec": {"name": "python3", "language": "python",
                                "display_name": "Python 3"}})  # fmt: skip
    lab = read_nbgrader_notebook(nb, {"data.csv": "a,b\n1,2\n", "figure.png": "not read"})
    checks = [cell.source for cell in lab.notebook.cells if "visible-check" in
              cell.metadata.get("tags", [])]  # fmt: skip
    assert checks[0] == "assert r > 0"
    assert "r == 2.0" in lab.tests[0].checks[0].code
    assert lab.notebook.cells[0].source == "## Part A [2 points]"
    assert [test.passes_on_blank != "" for test in lab.tests] == [False, True]
    assert "positive: reads r, which a later cell binds again: nbgrader runs the test cell " \
           "where it stands, the kit after the whole notebook" in lab.notes  # fmt: skip
    assert set(lab.files) == {"data.csv", "figure.png"}
    assert [note for note in lab.notes if note.startswith(("data.csv", "figure.png"))] == [
        "data.csv: a code cell reads it; students get it with the release, but the grader runs "
        "the notebook without the lab's files, so that cell fails when graded"]


def nbgrader_cell(cell, grade_id, **settings):
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False,
                                 "schema_version": 3, "grade_id": grade_id, **settings}  # fmt: skip
    return cell


def read_nbgrader_notebook(nb, files: dict[str, str]):
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lab.ipynb"
        nbformat.write(nb, str(path))
        for name, text in files.items():
            (path.parent / name).write_text(text)
        return read_nbgrader(path)


def test_otter_masters_are_read_as_otter_reads_them():
    demo = read_otter(FIXTURES / "otter-tutorial/demo.ipynb")
    assert [(test.question, round(test.points, 4)) for test in demo.tests] == \
        [("1.1 q1", 0.3333)] * 3 + [("1.2 q2", 0.5)] * 2 + [("1.3 q3", 0.125)] * 8  # fmt: skip
    assert demo.tests[0].checks[0].code == ">>> square(1) == 1\nTrue"  # the master's output
    text = "\n".join(cell.source for cell in demo.notebook.cells)
    assert "BEGIN QUESTION" not in text and "grader.check" not in text
    assert "mint is the highest" in text.split("### BEGIN SOLUTION")[-1]  # a written answer
    # the fenced markers, the config file (exception-based tests) and Otter's seed
    exceptions = read_otter(FIXTURES / "otter-test-assign/exception-example.ipynb")
    assert exceptions.tests[0].checks[0].style == "function"
    assert exceptions.tests[0].checks[0].function == "test_type"
    assert exceptions.settings["cell_seed"] == 42
    assert len(exceptions.tests[0].checks) == 2  # all_or_nothing: one test of both cases
    example = read_otter(FIXTURES / "otter-test-assign/example.ipynb")
    assert example.lab_id == "hw01" and set(example.files) == {"data.csv"}
    assert example.settings["cell_seed_variable"] == "a_nonexistent_variable"
    assert "q1 test case 6: reads student_file.py" in " ".join(example.notes)
    # type hints stripped from the doctest, as Otter strips them
    q1 = next(test for test in example.tests if test.question == "1.1 q1")
    assert any("def identity(x):" in check.code for check in q1.checks)
    # manual questions answered in one Markdown cell are written questions, numbered in order
    # with the tested ones and worth their config's points; the others stay listed
    assert [(q.name, q.points, q.grade_id) for q in written_questions(example.notebook)] == [
        ("1.3 q4", 2.0, "q4"), ("1.4 q7", 1.0, "q7")]
    assert written_questions(example.notebook)[0].model_answer == \
        "**SOLUTION**: Having equal side lengths."  # fmt: skip
    assert [test.question for test in example.tests][-1].startswith("1.6 ")
    assert example.points == sum(test.points for test in example.tests) + 3
    assert "q2: graded by hand in Otter (1.5 points), its answer not one Markdown cell: kept " \
           "in the text, not graded by the kit" in example.notes  # fmt: skip
    assert "q4: graded by hand in Otter, without points in its config: kept in the text, not " \
           "graded by the kit" in demo.notes  # fmt: skip


def test_an_otter_master_that_was_never_run_is_refused(tmp_path):
    master = nbformat.read(str(FIXTURES / "otter-tutorial/demo.ipynb"), 4)
    for cell in master.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nbformat.write(master, str(tmp_path / "demo.ipynb"))
    with pytest.raises(InitError, match="the master shows no outputs: run it"):
        read_otter(tmp_path / "demo.ipynb")


def test_otter_resolves_points_as_otter_does():
    case = {"points": None}
    assert resolve_points(None, [case, case, case]) == [1 / 3] * 3
    assert resolve_points(3, [case, {"points": 1}]) == [2.0, 1.0]
    assert resolve_points({"each": 2}, [case, case]) == [2.0, 2.0]
    assert resolve_points([10, 2], [case, case]) == [10.0, 2.0]
    assert resolve_points(None, [{"points": 2}, case]) == [2.0, 0.0]


def test_a_points_mismatch_is_said_with_the_digits_that_differ(tiny_course):
    config = tiny_course / "course_config.py"
    config.write_text(config.read_text().replace('"points": 2', '"points": 2.0000001'))
    with pytest.raises(ConfigError, match=r"points: 2\.0000001, but the hidden tests in "
                                          r"tests/tiny add up to 2$"):  # fmt: skip
        check_points(load_course(tiny_course), "tiny")


def test_import_says_nothing_raw_on_the_terminal(tmp_path):
    course = tmp_path / "course"
    subprocess.run([sys.executable, "-m", "autograder.cli", "init", str(course)], check=True,
                   capture_output=True)  # fmt: skip
    done = subprocess.run([sys.executable, "-W", "default", "-m", "autograder.cli", "import",
                           "otter", str(FIXTURES / "otter-tutorial/demo.ipynb")], cwd=course,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "site-packages" not in done.stderr


def test_a_notebook_for_another_language_is_refused_before_anything_is_written(tmp_path):
    course = tmp_path / "course"
    subprocess.run([sys.executable, "-m", "autograder.cli", "init", str(course)], check=True,
                   capture_output=True)  # fmt: skip
    config = (course / "course_config.py").read_text()
    files = sorted(course.rglob("*"))
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "import", "otter",
                           str(FIXTURES / "otter-test-assign/r-example.ipynb")], cwd=course,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and not done.stdout
    assert done.stderr.strip().endswith("a notebook for the R kernel (R); the kit grades Python "
                                        "notebooks only")  # fmt: skip
    assert len(done.stderr.strip().splitlines()) == 1
    assert (course / "course_config.py").read_text() == config
    assert sorted(course.rglob("*")) == files
