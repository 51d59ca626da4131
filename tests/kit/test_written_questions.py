"""Written questions (`autograder.core.written`) through the real release: the kit's tiny course
with a written question added, and the essay fixture lab (`written_lab.py`). The release blanks
the answer cell and keeps the model answer and the rubric out of release/ (and the rubric out
of solutions/); points and headings count written questions; a malformed answer cell is
refused in one line; the Gradescope results carry a written question as pending."""

from __future__ import annotations

import json

import nbformat
import pytest
import written_lab
from course_files import course_config, tiny_notebook

from autograder.authoring.release import ReleaseError, plan_release, release_lab
from autograder.core.config import ConfigError, load_course
from autograder.core.written import (
    WRITTEN_STUB,
    AnswerCells,
    WrittenQuestionError,
    written_questions,
)
from autograder.exports.gradescope import check_visibility_questions
from autograder.exports.gradescope_run import PENDING_OUTPUT, graded_results
from autograder.judging.hidden_tests import check_points
from autograder.records.gradebook import Gradebook, GradedRun
from autograder.records.report import student_grades

EXPLAIN = "### BEGIN SOLUTION\nDoubling twice is the same as multiplying by four, always.\n" \
          "### END SOLUTION\n\n=== BEGIN MARK SCHEME ===\n- +1: says multiplying by four\n" \
          "=== END MARK SCHEME ==="


def _tiny_with_a_written_question(root, points_in_config=3):
    """The tiny course, its question numbered, with written question 2 (1 point) after it."""
    nb = tiny_notebook()
    nb.cells[0].source = nb.cells[0].source.replace("## Doubling (2 points)",
                                                    "### 1 Doubling (2 points)")
    nb.cells += [nbformat.v4.new_markdown_cell("### 2 Twice doubled (1 point)\n\nWhat does "
                                               "doubling twice do?"),
                 written_lab.written_answer_cell(EXPLAIN, "twice", 1)]
    nbformat.write(nb, root / "source/tiny/tiny.ipynb")
    test = root / "tests/tiny/test_tiny.py"
    test.write_text(test.read_text().replace('question("doubling")', 'question("1 Doubling")'))
    (root / "course_config.py").write_text(course_config(points=points_in_config))


def test_the_tiny_course_releases_a_written_question(tiny_course):
    _tiny_with_a_written_question(tiny_course)
    summary = release_lab(load_course(tiny_course), "tiny")
    assert summary.tests_checked == 1
    release = nbformat.read(tiny_course / "release/tiny/tiny.ipynb", as_version=4)
    answer = release.cells[-1]
    assert answer.source == WRITTEN_STUB
    assert answer.metadata.nbgrader == {"grade": True, "grade_id": "twice", "locked": False,
                                        "points": 1, "schema_version": 3, "solution": True,
                                        "task": False}
    assert release.cells[-2].source.startswith("### 2 Twice doubled (1 point)\n\nWhat does")
    text = json.dumps(release)
    for secret in ("multiplying by four", "MARK SCHEME", "BEGIN SOLUTION"):
        assert secret not in text
    solution = nbformat.read(tiny_course / "solutions/tiny/tiny.ipynb", as_version=4)
    assert solution.cells[-1].source == "Doubling twice is the same as multiplying by four, always."
    assert check_points(load_course(tiny_course), "tiny") == 3


def test_the_essay_lab_releases_and_its_answers_are_found(tmp_path):
    root = written_lab.build_course(tmp_path / "course")
    release_lab(load_course(root), "essay")
    release = nbformat.read(root / "release/essay/essay.ipynb", as_version=4)
    assert [c.source for c in release.cells if c.cell_type == "markdown"
            and c.metadata.get("nbgrader", {}).get("grade")] == [WRITTEN_STUB, WRITTEN_STUB]
    text = json.dumps(release)
    for secret in ("worked example", "Squaring is not linear", "confuses doubling",
                   "Accept any correct definition"):
        assert secret not in text
    solution = json.dumps(nbformat.read(root / "solutions/essay/essay.ipynb", as_version=4))
    assert "Squaring is not linear" in solution and "worked example" not in solution

    source = nbformat.read(root / "source/essay/essay.ipynb", as_version=4)
    [why, compare] = written_questions(source)
    assert (why.name, why.points, why.grade_id) == (written_lab.WRITTEN[0], 2.0, "why_linear")
    assert [(s.points, s.text) for s in why.rubric] == [
        (1.0, "states additivity or homogeneity"), (1.0, "gives a worked example with numbers"),
        (-0.5, "confuses doubling with squaring")]
    assert why.marking_notes == "Accept any correct definition of linearity."
    assert why.model_answer.startswith("Doubling is linear") and "BEGIN" not in why.model_answer
    assert [(s.points, s.text) for s in compare.rubric][-1] == (0.0, "blank or off topic")

    cells = AnswerCells.of(source)
    submitted = written_lab.student_notebook(release, {"why_linear": "It is *linear*."},
                                             double="return x + x")
    answers = {a.question: a for a in cells.answers_in(submitted)}
    assert answers[written_lab.WRITTEN[0]].text == "It is *linear*."
    assert answers[written_lab.WRITTEN[1]].text == ""  # still the stub: no answer
    assert "return x + x" in answers[written_lab.CODE[0]].text
    assert answers[written_lab.CODE[0]].kind == "code"


@pytest.mark.parametrize("change, message", [
    (lambda nb: nb.cells.insert(0, nb.cells.pop(8)), "a written answer cell needs a question heading"),
    (lambda nb: nb.cells[7].update(source="Explain why doubling is linear."),
     "follows the solution cells of question '1.2 Halving'"),
    (lambda nb: nb.cells[8].metadata.nbgrader.update(points=3), "worth 3 points but its heading"),
    (lambda nb: nb.cells[8].metadata.nbgrader.pop("points"), "needs nbgrader points > 0"),
    (lambda nb: nb.cells[8].update(source="### 2.1 X (2 points)\n" + nb.cells[8].source),
     "must be in a cell before the answer cell"),
    (lambda nb: nb.cells[8].update(source=nb.cells[8].source.replace(
        "=== END MARK SCHEME ===", "")), "needs one === BEGIN MARK SCHEME === line"),
])
def test_a_malformed_answer_cell_is_refused_in_one_line(tmp_path, change, message):
    root = written_lab.build_course(tmp_path / "course")
    path = root / "source/essay/essay.ipynb"
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)
    with pytest.raises((ReleaseError, WrittenQuestionError)) as refused:
        plan_release(load_course(root), "essay")
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert str(refused.value).startswith("source/essay/essay.ipynb: cell ")


def test_points_that_leave_out_the_written_questions_are_refused(tiny_course):
    _tiny_with_a_written_question(tiny_course, points_in_config=2)
    with pytest.raises(ConfigError, match=r"points: 2, but the hidden tests in tests/tiny add up "
                                          r"to 2 and the written questions to 1"):
        check_points(load_course(tiny_course), "tiny")


def test_a_question_with_tests_and_an_answer_cell_is_refused(tiny_course):
    _tiny_with_a_written_question(tiny_course)
    test = tiny_course / "tests/tiny/test_tiny.py"
    test.write_text(test.read_text() + '''

@pytest.mark.question("2 Twice doubled")
@pytest.mark.points(1)
def test_twice(sub, ref, rng, tol):
    tol.assert_close(sub.double(sub.double(1.0)), 4.0, what="double(double(1))")
''')
    (tiny_course / "course_config.py").write_text(course_config(points=4))
    with pytest.raises(ReleaseError, match="'2 Twice doubled' has hidden tests and a written "
                                           "answer cell"):
        release_lab(load_course(tiny_course), "tiny")


def test_gradescope_results_carry_written_questions_as_pending(tmp_path):
    settings = ', "gradescope": {"questions": {"2.1 Why doubling is linear": "after_published"}}'
    root = written_lab.build_course(tmp_path / "course", settings)
    course = load_course(root)
    check_visibility_questions(course, "essay")  # a written question may be named
    book = Gradebook(f"sqlite:///{tmp_path / 'gb.sqlite'}")
    records = [{"nodeid": "t::test_double", "name": "test_double", "question": "1.1 Doubling",
                "points": 2, "earned": 2, "outcome": "passed", "message": "", "duration": 0.1},
               {"nodeid": "t::test_halve", "name": "test_halve", "question": "1.2 Halving",
                "points": 1, "earned": 0, "outcome": "failed", "message": "halve(x) differs",
                "duration": 0.1}]
    book.record(GradedRun("submission", "essay", "a" * 64, "s.ipynb", None, 0, 0, "d", "cpu",
                          "bwrap", 1.0, 0.5, [], records))
    [grade] = student_grades(course, "essay", book)
    results = graded_results(course, "essay", grade, 3.0)
    tests = {test["name"]: test for test in results["tests"]}
    assert list(tests) == [*written_lab.CODE, *written_lab.WRITTEN]
    why = tests["2.1 Why doubling is linear"]
    assert why == {"name": "2.1 Why doubling is linear", "max_score": 2.0, "output_format": "text",
                   "output": PENDING_OUTPUT, "visibility": "after_published"}
    assert "score" not in tests["2.2 Doubling against squaring"]
    assert tests["1.1 Doubling"]["score"] == 2 and tests["1.2 Halving"]["status"] == "failed"
    assert results["score"] == 2
    assert "Written answers (3 points) are pending" in results["output"]
    assert "2 / 3 points from the tests" in results["output"]
