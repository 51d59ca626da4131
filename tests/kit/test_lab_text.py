"""What students read comes from one source: the course config and the hidden tests.

The release fills `{{key}}` in markdown from course_config.py, refuses code constants that differ
from it, and matches question headings (names, points, order) with the hidden tests.
"""

from __future__ import annotations

import nbformat
import pytest
from course_files import course_config
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.authoring.lab_text import check_question_headings
from autograder.authoring.release import ReleaseError, plan_release, release_lab, stale_files
from autograder.authoring.stubs import SourceError
from autograder.core.config import ConfigError, load_course

LAB = """{"id": "tiny", "title": "Tiny lab", "notebook": "source/tiny/tiny.ipynb",
          "release": "2026-10-01T09:00", "due": "2026-10-12T23:59", "points": 2,
          "constants": %s}"""


def _configure(course_root, constants: str = '{"factor": 2}') -> None:
    (course_root / "course_config.py").write_text(course_config(labs=LAB % constants))


def _edit_source(course_root, edit) -> None:
    path = course_root / "source/tiny/tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    edit(nb)
    nbformat.write(nb, path)


def test_release_fills_settings_and_constants_that_tests_also_read(tiny_course):
    _configure(tiny_course)
    _edit_source(tiny_course, lambda nb: nb.cells[0].update(
        source=nb.cells[0].source + "\n\nDoubling multiplies by {{ constants.factor }}."))
    (tiny_course / "tests/tiny/test_tiny.py").write_text(
        "import pytest\n\n\n@pytest.mark.question('Doubling')\n@pytest.mark.points(2)\n"
        "def test_double(sub, course, lab_id):\n"
        "    factor = course.lab(lab_id).constants['factor']\n"
        "    assert sub.double(3) == factor * 3\n"
    )
    summary = release_lab(load_course(tiny_course), "tiny")
    assert summary.tests_checked == 1
    for folder in ("release", "solutions"):
        text = nbformat.read(tiny_course / folder / "tiny/tiny.ipynb", as_version=4).cells[0].source
        assert "The lab is worth 2 points." in text and "multiplies by 2." in text
        assert "{{" not in text
    assert "{{points}}" in nbformat.read(tiny_course / "source/tiny/tiny.ipynb", 4).cells[0].source

    _configure(tiny_course, '{"factor": 3}')  # the config changes what students read
    stale = stale_files(load_course(tiny_course), "tiny")
    assert stale == ["release/tiny/tiny.ipynb", "solutions/tiny/tiny.ipynb"]


def test_an_unknown_placeholder_is_refused_naming_the_cell(tiny_course):
    _edit_source(tiny_course, lambda nb: nb.cells[0].update(source="Budget: {{training_budget}}"))
    with pytest.raises(ReleaseError, match=r"cell 0: \{\{training_budget\}\} is not a lab setting"):
        plan_release(load_course(tiny_course), "tiny")


@pytest.mark.parametrize("value, refused", [("2", False), ("2.0", False), ("3", True)])
def test_code_that_states_a_config_value_must_agree(tiny_course, value, refused):
    _configure(tiny_course)
    _edit_source(tiny_course, lambda nb: nb.cells[1].update(
        source=f"import numpy as np\nFACTOR = {value}  # course_config: constants.factor"))
    if refused:
        with pytest.raises(ReleaseError, match=r"cell 1: FACTOR = 3, but course_config.py "
                                               r"labs\[0\].constants.factor is 2"):
            plan_release(load_course(tiny_course), "tiny")
    else:
        plan_release(load_course(tiny_course), "tiny")


def test_a_demo_cell_must_say_it_is_a_demo(tiny_course):
    _edit_source(tiny_course, lambda nb: nb.cells[4].update(source="print('demo ran')"))
    with pytest.raises(ReleaseError, match=r"cell 4: a 'demo' cell must start with a comment line"):
        plan_release(load_course(tiny_course), "tiny")


def test_a_heading_whose_points_differ_from_the_tests_refuses_the_release(tiny_course):
    _edit_source(tiny_course, lambda nb: nb.cells[0].update(source="## Doubling (3 points)"))
    with pytest.raises(ReleaseError, match=r"cell 0: 'Doubling' says 3 points; its hidden tests in "
                                           r"tests/tiny are worth 2"):
        release_lab(load_course(tiny_course), "tiny")
    assert not (tiny_course / "release/tiny").exists()


def _notebook(*headings: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_markdown_cell(h) for h in headings] + [new_code_cell("x = 1")])


def test_headings_follow_the_tests_in_notebook_order():
    nb = _notebook("## Part 1", "### 1.1 `sigmoid` (3 points)", "### 1.2 BCE  (1 point)",
                   "### 2.1 Training (2 points)\n\nText.")
    questions = [("2.1 training", 1.0), ("1.1 sigmoid", 3.0), ("1.2 BCE", 1.0), ("2.1 training", 1.0)]
    assert check_question_headings(nb, questions, "tests/x") == ["1.1 sigmoid", "1.2 BCE",
                                                                  "2.1 training"]


@pytest.mark.parametrize("headings, message", [
    (["### 1.1 sigmoid (3 points)"], r"question '1.2 BCE' has no heading '### 1.2 BCE \(1 points\)'"),
    (["### 1.1 sigmoid (3 points)", "### 1.2 BCE (1 point)", "### 1.3 Extra (2 points)"],
     r"cell 2: the heading '1.3 Extra' states points, but no hidden test in tests/x"),
    (["### 1.2 BCE (1 point)", "### 1.1 sigmoid (3 points)"],
     r"cell 1: question '1.1 sigmoid': number the questions in notebook order"),
    (["### 1.1 sigmoid (3 points)", "### 1.2 BCE (1 point)", "### 1.1 Sigmoid (3 points)"],
     r"cell 2: '1.1 Sigmoid' has two headings"),
])  # fmt: skip
def test_headings_that_disagree_with_the_tests_are_refused(headings, message):
    with pytest.raises(SourceError, match=message):
        check_question_headings(_notebook(*headings), [("1.1 sigmoid", 3.0), ("1.2 BCE", 1.0)],
                                "tests/x")  # fmt: skip


@pytest.mark.parametrize("constants", ['[1, 2]', '{"a b": 1}', '{"flag": True}', '{"xs": [1]}'])
def test_constants_are_names_to_numbers_or_strings(tiny_course, constants):
    _configure(tiny_course, constants)
    with pytest.raises(ConfigError, match=r"labs\[0\]\.constants"):
        load_course(tiny_course)


def test_released_notebooks_of_the_course_carry_no_placeholder():
    course = load_course()
    for lab_id in course.labs:
        path = course.release_dir(lab_id) / f"{lab_id}.ipynb"
        if path.exists():
            text = "".join(cell.source for cell in nbformat.read(path, as_version=4).cells
                           if cell.cell_type == "markdown")  # fmt: skip
            assert "{{" not in text, f"{path}: a placeholder was not filled in"
