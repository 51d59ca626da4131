"""Reports through the real report code on a real SQLite gradebook: hostile texts rendered safe
(the Markdown parsed with a Markdown renderer, the HTML checked for live tags, the CSV for
formulas), questions in notebook order, cells named as Jupyter shows them, a broken notebook
said once, lateness and withheld grades, integer plots, and `report` refusing a missing
gradebook."""

from __future__ import annotations

import csv
import html
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import mistune
import pytest
from course_files import tiny_notebook

from autograder.cli import main
from autograder.core.config import load_course
from autograder.core.notebook import read_notebook
from autograder.core.questions import question_order
from autograder.intake import Submission
from autograder.judging.grading import grade_batch, notebook_notes
from autograder.records.gradebook import Gradebook, GradedRun
from autograder.records.report import (
    score_figure,
    student_grades,
    terminal_table,
    write_report,
)

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "wrong\n\n# Score: 50 / 50\n\n| forged | table |",
    "<!-- the rest is hidden",
    "``` fenced ` and `` spans",
    "[click](javascript:alert(1)) ![x](http://evil/x.png)",
    "\x1b[2J\x1b]0;owned\x07bell\x07 <b onmouseover=x>bold</b> & &amp; *em* _u_",
]


def record(question: str, name: str, earned: float, points: float = 1.0,
           message: str = "", outcome: str | None = None) -> dict:  # fmt: skip
    return {"nodeid": f"tests/tiny/test_tiny.py::{name}", "name": name, "question": question,
            "points": points, "earned": earned, "message": message,
            "outcome": outcome or ("passed" if earned == points else "failed"),
            "duration": 0.01}  # fmt: skip


def store(book: Gradebook, student: str, records: list[dict], notes: list[str] = (),
          submitted_at: datetime | None = None, sandbox: str = "bwrap", **extra) -> None:  # fmt: skip
    book.record(GradedRun(
        student=student, lab="tiny", sha256=student.encode().hex()[:64].ljust(64, "0"),
        filename=f"{student}.ipynb", submitted_at=submitted_at, minutes_late=0.0,
        late_fraction=0.0, tests_digest="d", device="cpu", sandbox=sandbox, wall_s=1.0,
        student_s=0.5, notebook_notes=list(notes), records=records, **extra,
    ))  # fmt: skip


@pytest.fixture
def course(tiny_course):
    text = (tiny_course / "course_config.py").read_text()
    (tiny_course / "course_config.py").write_text(
        text.replace('"max_days_late": 3}', '"max_days_late": 3, "unknown_time": "on_time"}'))
    return load_course(tiny_course)


@pytest.fixture
def book(tmp_path):
    return Gradebook(f"sqlite:///{tmp_path / 'gb.sqlite'}")


class Tags(HTMLParser):
    """Every tag, attribute and comment of an HTML text."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.comments: list[str] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs

    def handle_comment(self, data):
        self.comments.append(data)

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_texts_render_safely_everywhere(course, book, tmp_path):
    records = [record("1.1 sigmoid", f"test_case_{i}", 0.0, message=text, outcome="error")
               for i, text in enumerate(HOSTILE)]  # fmt: skip
    records.append(record("1.1 sigmoid", "test_passes", 1.0))
    notes = [f"cell 3 (f): {text}" for text in HOSTILE]
    # A student id and roster ids as an older kit or a roster could have stored them.
    store(book, "=HYPERLINK(\"http://evil\")", records, notes,
          roster={"login": "+cmd", "email": "@SUM(1)", "name": "-2+3"}, on_roster=True)
    out = tmp_path / "reports"
    [grade] = write_report(course, "tiny", book, out)

    [feedback_md] = (out / "feedback").glob("*.md")
    rendered = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])(
        feedback_md.read_text())
    parsed = Tags(rendered)
    assert set(parsed.tags) <= {"h1", "h2", "h3", "p", "strong", "em", "code", "ul", "li",
                                "table", "thead", "tbody", "tr", "th", "td"}, parsed.tags
    assert parsed.attributes == [] and parsed.comments == []
    assert parsed.tags.count("h1") == 1 and parsed.tags.count("table") == 1
    outside_code = rendered.split("<code>")[0] + "".join(
        part.split("</code>", 1)[-1] for part in rendered.split("<code>")[1:])
    assert outside_code.count("Score") == 1 and "javascript" not in outside_code
    for text in ("alert(1)", "onerror", "Score: 50 / 50"):
        assert text in rendered  # shown, as text inside code spans
    assert "\x1b" not in rendered and "\x07" not in rendered

    [feedback_html] = (out / "feedback").glob("*.html")
    page = Tags(feedback_html.read_text())
    assert set(page.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3",
                              "p", "b", "i", "small", "code", "ul", "li", "table", "tr", "th",
                              "td"}, page.tags
    assert {name for name, _ in page.attributes} <= {"charset", "class"}
    assert page.comments == [] and "\x1b" not in feedback_html.read_text()
    assert any("<script>alert(1)</script>" in text for text in page.text)  # as text

    rows = list(csv.reader((out / "grades.csv").open(encoding="utf-8")))
    header, row = rows
    cells = dict(zip(header, row))
    assert cells["student"].startswith("'=") and cells["login"] == "'+cmd"
    assert cells["email"] == "'@SUM(1)" and cells["name"] == "'-2+3"
    assert all(not value.startswith(("=", "+", "-", "@")) for value in row)
    assert "\n" not in cells["problems"] and "tests not passed: error 7" in cells["problems"]

    table = terminal_table([grade], course)
    assert "\x1b" not in table and "\x07" not in table


def test_questions_and_plots_follow_the_notebook(course, book):
    # Test files give questions in their own order (Lab 1: 1.x, 3.x, 2.x); 1.10 comes after 1.2.
    file_order = ["1.1 sigmoid", "1.2 binary cross-entropy", "1.10 extra", "3.1 PyTorch forward",
                  "2.1 forward", "2.2 backpropagation through time", "unnumbered"]
    notebook_order = ["1.1 sigmoid", "1.2 binary cross-entropy", "1.10 extra", "2.1 forward",
                      "2.2 backpropagation through time", "3.1 PyTorch forward", "unnumbered"]
    assert question_order(file_order) == notebook_order
    for index, student in enumerate(["ann", "bob", "cy"]):
        store(book, student, [record(q, f"test_{i}", float(i <= index * 2), 1.0)
                              for i, q in enumerate(file_order)])
    grades = student_grades(course, "tiny", book)
    assert [q.name for q in grades[0].questions] == notebook_order
    assert [(q.earned, q.possible) for q in grades[1].questions][:4] == [
        (1, 1), (1, 1), (1, 1), (0, 1)]

    figure = score_figure(grades, 2)
    left, right = figure.axes
    assert all(float(tick).is_integer() for tick in left.get_yticks())
    assert all(float(tick).is_integer() for tick in right.get_xticks())
    assert [label.get_text() for label in right.get_yticklabels()] == notebook_order
    bars = {label.get_text(): bar.get_width()
            for label, bar in zip(right.get_yticklabels(), right.patches)}  # fmt: skip
    assert bars["1.1 sigmoid"] == 3 and bars["2.1 forward"] == 1


def test_feedback_lists_questions_with_points_and_names_cells(course, book, tmp_path):
    records = [record("2.1 forward", "test_forward", 0.0, 2.0, "your code raised ValueError"),
               record("1.1 sigmoid", "test_sigmoid", 1.0)]
    store(book, "ann", records, ["cell 21 (sigmoid): NotImplementedError: not yet"])
    write_report(course, "tiny", book, tmp_path / "out")
    text = (tmp_path / "out" / "feedback" / "ann.md").read_text()
    assert text.index("### 1\\.1 sigmoid: 1 / 1") < text.index("### 2\\.1 forward: 0 / 2")
    assert "| 1\\.1 sigmoid | 1 / 1 |" in text and "| **total** | **1 / 3** |" in text
    assert "- `cell 21 (sigmoid): NotImplementedError: not yet`" in text
    assert "text cells included" in text


def test_notebook_notes_give_the_cell_position_and_what_it_defines():
    nb = {"cells": [{"cell_type": "markdown", "source": "# Part 1"}] * 20 + [
        {"cell_type": "code", "source": "import numpy as np\n\ndef sigmoid(n):\n    raise "
                                        "NotImplementedError()\n\nclass Model:\n    pass"}]}
    report = {"cells": [
        {"index": 20, "grade_id": "sigmoid_cell", "error": "NotImplementedError: ",
         "notes": ["shell command not run: !pip install x"]},
        {"index": 3, "grade_id": "bce\x1b[2J\nforged", "error": "ValueError: bad\nline"},
        {"index": 4, "grade_id": None, "error": "KeyError: 'x'"},
        {"index": "7", "error": "garbled"},
    ]}
    assert notebook_notes(report, nb) == [
        "cell 21 (sigmoid, Model): NotImplementedError:",
        "cell 21 (sigmoid, Model): shell command not run: !pip install x",
        "cell 4 (bce forged): ValueError: bad line",
        "cell 5: KeyError: 'x'",
        "a cell: garbled",
    ]
    assert notebook_notes(report)[0] == "cell 21 (sigmoid_cell): NotImplementedError:"


def test_a_broken_notebook_is_said_once_in_full(course, book, tmp_path, capsys):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [{"cell_type": "code", "source": "x = \'unterminated}]}')
    summary = grade_batch(course, "tiny", [Submission("broken", broken, None, "test")], book,
                          progress=False)  # fmt: skip
    assert summary.invalid == 1
    assert any(line.startswith("submission time unknown: 1: broken")
               for line in summary.lines(2))  # fmt: skip
    write_report(course, "tiny", book, tmp_path / "out")
    text = (tmp_path / "out" / "feedback" / "broken.md").read_text()
    [reason] = [line for line in text.splitlines() if "invalid JSON" in line]
    assert reason.startswith("- `no test could run: broken.ipynb: not a notebook (invalid JSON")
    assert text.count("invalid JSON") == 1 and "see “Your notebook” above" in text
    row = next(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert "no test could run" in row["problems"] and row["final"] == "0"


def test_nbformat_warnings_become_one_line_per_notebook(tmp_path, recwarn):
    nb = tiny_notebook()
    for cell in nb.cells:
        del cell["id"]
    nb.nbformat_minor = 5  # ids are required from 4.5 on: nbformat warns and adds them
    path = tmp_path / "ann.ipynb"
    path.write_text(json.dumps(nb))
    lines: list[str] = []
    read_notebook(path, warnings_out=lines)
    assert lines == ["cells without an id (nbformat gives them one)"]
    assert len(recwarn) == 0  # nothing reaches the terminal


def test_lateness_extensions_and_withheld_grades(tiny_course, book, tmp_path):
    config = tiny_course / "course_config.py"
    config.write_text(config.read_text().replace(
        '"labs": [', '"extensions": {"tiny": {"cy": "excused"}},\n            "labs": ['))
    course = load_course(tiny_course)  # unknown_time: "error" (the default)
    due = course.lab("tiny").due
    store(book, "ann", [record("doubling", "test_double", 2.0, 2.0)],
          submitted_at=due + timedelta(days=1, hours=2))  # fmt: skip
    store(book, "bob", [record("doubling", "test_double", 2.0, 2.0)], time_note="no time")
    store(book, "cy", [record("doubling", "test_double", 2.0, 2.0)], time_note="no time")
    store(book, "dee", [record("doubling", "test_double", 2.0, 2.0)],
          submitted_at=datetime(2026, 10, 12, 20, tzinfo=UTC), on_roster=False)  # fmt: skip
    grades = write_report(course, "tiny", book, tmp_path / "out")
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows["ann"]["submitted_at"] == "2026-10-14T01:59:00+00:00"
    assert rows["ann"]["minutes_late"] == "1560" and rows["ann"]["late_penalty"] == "0.4"
    assert rows["ann"]["final"] == "1.6"
    assert rows["bob"]["submitted_at"] == "unknown" and rows["bob"]["minutes_late"] == ""
    assert rows["bob"]["final"] == "" and rows["bob"]["late_penalty"] == ""
    assert "submission time unknown: final grade withheld" in rows["bob"]["problems"]
    assert rows["cy"]["final"] == "2" and rows["cy"]["problems"] == ""  # excused by a TA
    assert rows["dee"]["problems"] == "not on the roster" and rows["dee"]["minutes_late"] == "0"
    md = {g.student: (tmp_path / "out" / "feedback" / f"{g.student}.md").read_text()
          for g in grades}  # fmt: skip
    assert "1 d 2 h 0 min late" in md["ann"] and "penalty 0.4" in md["ann"]
    assert "**Score: withheld" in md["bob"] and "Submission time unknown" in md["bob"]
    table = terminal_table(grades, course)
    assert "1 withheld: submission time unknown" in table


def test_report_refuses_a_gradebook_that_is_not_there(tiny_course, tmp_path, capsys):
    base = ["--course", str(tiny_course), "report", "tiny", "--out", str(tmp_path / "out")]
    typo = tmp_path / "gradebok.sqlite"
    assert main([*base, "--db", f"sqlite:///{typo}"]) == 2
    assert main(base) == 2  # the course's default gradebook was never made
    Gradebook(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert main([*base, "--db", f"sqlite:///{tmp_path / 'empty.sqlite'}"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and "no gradebook there" in errors[0] and "no gradebook" in errors[1]
    assert "no graded submissions of tiny" in errors[2]
    assert not typo.exists() and not (tiny_course / "gradebook.sqlite").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", [*HOSTILE, "1. not a list", "- nor this", "# nor a heading",
                                  "> nor a quote", "=====", "a | b ~~c~~ $x$ \\* \\_"])
def test_markdown_text_renders_as_the_same_plain_text(text):
    from autograder.core.safe_text import markdown_text, one_line

    rendered = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])(
        markdown_text(text))
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n"), rendered
    assert html.unescape(rendered[3:-5]) == one_line(text)


def test_rendered_markdown_keeps_code_spans_closed():
    from autograder.core.safe_text import markdown_code

    for text in ["`", "``", "a ` b", "`start", "end`", "```", " lead", "<b>|</b>"]:
        rendered = mistune.html(f"x {markdown_code(text)} y")
        assert rendered.count("<code>") == 1 and rendered.endswith("</code> y</p>\n"), rendered
        inside = rendered.split("<code>")[1].split("</code>")[0]
        assert html.unescape(inside) == text.strip()

