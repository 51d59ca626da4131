"""Manual points in the gradebook (`autograder.records.manual_grades`) on SQLite and on a real
PostgreSQL server: the versioned upgrade of an existing gradebook, rubric edits that re-score,
two TAs who never overwrite each other (one of them at the very same moment, in threads),
overrides kept across a regrade of the same notebook and flagged on a new one, and reports and
LMS exports that include manual points and never turn a pending question into a 0."""

from __future__ import annotations

import csv
import threading

import pytest
import written_lab
from sqlalchemy import inspect, text

from autograder.core.config import load_course
from autograder.core.written import SubmittedAnswer
from autograder.exports.grades import export_grades
from autograder.intake.roster import load_roster
from autograder.records.gradebook import Gradebook, GradebookError, GradedRun
from autograder.records.manual_grades import (
    SCHEMA_VERSION,
    Change,
    GradeConflict,
    ManualGrades,
    Target,
)
from autograder.records.report import student_grades, write_report

WHY, COMPARE = written_lab.WRITTEN
DOUBLING = written_lab.CODE[0]


@pytest.fixture
def course(tmp_path):
    root = written_lab.build_course(tmp_path / "course")
    text_ = (root / "course_config.py").read_text()
    (root / "course_config.py").write_text(text_.replace('"max_days_late": 3}',
                                                         '"max_days_late": 3, "unknown_time": "on_time"}'))
    return load_course(root)


def _record(book: Gradebook, student: str, sha: str, double_earned: float = 2.0) -> None:
    records = [{"nodeid": "t::test_double", "name": "test_double", "question": DOUBLING,
                "points": 2, "earned": double_earned, "message": "" if double_earned else "wrong",
                "outcome": "passed" if double_earned else "failed", "duration": 0.1},
               {"nodeid": "t::test_halve", "name": "test_halve", "question": "1.2 Halving",
                "points": 1, "earned": 1, "outcome": "passed", "message": "", "duration": 0.1}]
    book.record(GradedRun(student, "essay", sha, f"{student}.ipynb", None, 0, 0, "d", "cpu",
                          "bwrap", 1.0, 0.5, [], records))


def _answers(why: str, compare: str = "") -> list[SubmittedAnswer]:
    return [SubmittedAnswer(WHY, "written", ("why_linear",), why),
            SubmittedAnswer(COMPARE, "written", ("compare",), compare),
            SubmittedAnswer(DOUBLING, "code", ("double",), "def double(x):\n    return 2 * x")]


def _graded(gradebook_url, students=("ann", "bob", "cat")):
    book = Gradebook(gradebook_url)
    manual = ManualGrades(book, "essay")
    for student in students:
        _record(book, student, student[0] * 64)
        manual.store_answers(student, student[0] * 64, _answers(f"It is linear, says {student}"))
    return book, manual


def test_an_existing_gradebook_gains_the_tables_and_a_newer_one_is_refused(gradebook_url):
    book = Gradebook(gradebook_url)
    _record(book, "ann", "a" * 64)
    assert not inspect(book.engine).has_table("manual_grades")  # a gradebook from before
    ManualGrades(book, "essay")
    tables = set(inspect(book.engine).get_table_names())
    assert {"manual_schema", "submitted_answers", "rubric_items", "manual_grades",
            "applied_rubric_items", "rubric_seeds"} <= tables
    with book.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM manual_schema")).scalar() == \
            SCHEMA_VERSION
    assert [run.submission.sha256 for run in book.latest_runs("essay")] == ["a" * 64]
    ManualGrades(book, "essay")  # opened again: nothing to do
    with book.engine.begin() as connection:
        connection.execute(text("UPDATE manual_schema SET version = 99"))
    with pytest.raises(GradebookError, match="schema version 99, made by a newer kit"):
        ManualGrades(book, "essay")


def test_answers_are_kept_once_per_notebook(gradebook_url):
    book, manual = _graded(gradebook_url, ["ann"])
    manual.store_answers("ann", "a" * 64, _answers("changed?"))  # the same notebook again
    assert manual.answer("ann", "a" * 64, WHY).text == "It is linear, says ann"
    assert manual.answer("ann", "a" * 64, COMPARE).text == ""


def test_editing_a_rubric_item_rescores_every_answer_that_has_it(course, gradebook_url):
    book, manual = _graded(gradebook_url)
    manual.seed_rubric(WHY, [(1.0, "additivity"), (1.0, "example")], "(mark scheme)")
    assert not manual.seed_rubric(WHY, [(5.0, "again")], "alice")  # seeded once only
    first, second = manual.rubric(WHY)
    students = [Target(s, s[0] * 64, 0) for s in ("ann", "bob")]
    manual.change(WHY, students, Change(toggle_item=first.id), "alice")
    manual.change(WHY, [Target("ann", "a" * 64, 1)], Change(toggle_item=second.id), "alice")
    scores = {g.student: g.questions for g in student_grades(course, "essay", book)}
    assert [q.earned for q in scores["ann"] if q.name == WHY] == [2.0]
    assert [q.earned for q in scores["bob"] if q.name == WHY] == [1.0]
    assert manual.edit_item(first.id, first.version, 0.5, "additivity, stated", "bob") == 2
    per_student = {g.student: {q.name: q for q in g.questions}
                   for g in student_grades(course, "essay", book)}
    assert per_student["ann"][WHY].earned == 1.5 and per_student["bob"][WHY].earned == 0.5
    assert per_student["cat"][WHY].pending
    assert per_student["ann"][WHY].manual.items == ((0.5, "additivity, stated"), (1.0, "example"))
    with pytest.raises(GradeConflict, match="bob changed this rubric item"):
        manual.edit_item(first.id, first.version, 3.0, "stale", "alice")  # saw version 1
    assert manual.edit_item(second.id, second.version, 0, "", "bob", remove=True) == 1
    assert [item.text for item in manual.rubric(WHY)] == ["additivity, stated"]


def test_a_second_ta_gets_a_conflict_not_a_silent_overwrite(gradebook_url):
    book, manual = _graded(gradebook_url)
    manual.seed_rubric(WHY, [(1.0, "additivity"), (1.0, "example")], "(mark scheme)")
    first, second = manual.rubric(WHY)
    seen = Target("ann", "a" * 64, 0)  # both TAs opened ann's ungraded answer
    manual.change(WHY, [seen], Change(toggle_item=first.id), "alice")
    with pytest.raises(GradeConflict, match="alice changed this grade"):
        manual.change(WHY, [seen], Change(toggle_item=second.id), "bob")
    grade = manual.grades(WHY)["ann"]
    assert grade.item_ids == {first.id} and grade.grader == "alice" and grade.version == 1
    manual.change(WHY, [Target("ann", "a" * 64, 1)],
                  Change(adjustment=-0.5, comment="say why"), "bob")  # fmt: skip
    grade = manual.grades(WHY)["ann"]
    assert (grade.version, grade.grader, grade.adjustment, grade.comment) == (2, "bob", -0.5,
                                                                              "say why")
    assert grade.graded_at.tzinfo is not None


def test_two_tas_at_the_same_moment_one_wins(gradebook_url):
    book, manual = _graded(gradebook_url)
    manual.seed_rubric(WHY, [(1.0, "additivity")], "(mark scheme)")
    [item] = manual.rubric(WHY)
    for round_ in range(3):  # three races, each on an answer nobody has graded yet
        student = ("ann", "bob", "cat")[round_]
        barrier, outcomes = threading.Barrier(2), []

        def grade(ta: str, student=student, barrier=barrier, outcomes=outcomes) -> None:
            other = ManualGrades(Gradebook(gradebook_url), "essay")  # each TA's own connection
            barrier.wait()
            try:
                other.change(WHY, [Target(student, student[0] * 64, 0)],
                             Change(toggle_item=item.id), ta)  # fmt: skip
                outcomes.append(ta)
            except GradeConflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=grade, args=(ta,)) for ta in ("alice", "bob")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) in (["alice", "conflict"], ["bob", "conflict"]), outcomes
        grade = manual.grades(WHY)[student]
        assert grade.version == 1 and grade.grader in outcomes and grade.item_ids == {item.id}


def test_an_override_stays_on_a_regrade_and_is_flagged_on_a_new_notebook(course, gradebook_url):
    book, manual = _graded(gradebook_url, ["ann"])
    manual.change(DOUBLING, [Target("ann", "a" * 64, 0)],
                  Change(override_points=1.5, reason="the sign convention is the other one"),
                  "alice")  # fmt: skip
    manual.change(WHY, [Target("ann", "a" * 64, 0)], Change(adjustment=2.0, comment="good"),
                  "alice")  # fmt: skip
    manual.change(COMPARE, [Target("ann", "a" * 64, 0)], Change(adjustment=0.0), "alice")

    def ann():
        [grade] = student_grades(course, "essay", book)
        return grade, {q.name: q for q in grade.questions}

    grade, questions = ann()
    assert questions[DOUBLING].earned == 1.5 and questions[DOUBLING].tested == 2.0
    assert questions[DOUBLING].manual.reason == "the sign convention is the other one"
    assert grade.final == 1.5 + 1 + 2 + 0 and not grade.pending
    _record(book, "ann", "a" * 64)  # graded again (--force), the same notebook
    grade, questions = ann()
    assert questions[DOUBLING].earned == 1.5 and grade.final == 4.5
    _record(book, "ann", "f" * 64, double_earned=0.0)  # a new notebook from ann
    grade, questions = ann()
    assert questions[DOUBLING].pending and questions[DOUBLING].manual.to_review
    assert questions[WHY].pending and grade.final is None
    assert "manual grade to review (new notebook): 1.1 Doubling, 2.1 Why doubling is linear, " \
           "2.2 Doubling against squaring" in grade.problems
    version = manual.grades(DOUBLING)["ann"].version
    manual.change(DOUBLING, [Target("ann", "f" * 64, version)], Change(confirm=True), "bob")
    grade, questions = ann()
    assert questions[DOUBLING].earned == 1.5 and questions[DOUBLING].manual.grader == "bob"
    version = manual.grades(DOUBLING)["ann"].version
    manual.change(DOUBLING, [Target("ann", "f" * 64, version)], Change(clear=True), "bob")
    grade, questions = ann()
    assert questions[DOUBLING].manual is None and questions[DOUBLING].earned == 0.0


def test_reports_and_exports_show_manual_points_and_pending_never_zero(course, gradebook_url,
                                                                        tmp_path):  # fmt: skip
    book, manual = _graded(gradebook_url, ["ann", "bob"])
    manual.seed_rubric(WHY, [(1.0, "states additivity"), (1.0, "gives an example")], "(seed)")
    first, second = manual.rubric(WHY)
    ann = Target("ann", "a" * 64, 0)
    manual.change(WHY, [ann], Change(toggle_item=first.id), "alice")
    manual.change(WHY, [Target("ann", "a" * 64, 1)],
                  Change(adjustment=0.5, comment="nearly there: <b>add</b> an example"),
                  "alice")  # fmt: skip
    manual.change(COMPARE, [ann], Change(adjustment=1.0, comment="right"), "alice")
    manual.change(DOUBLING, [Target("bob", "b" * 64, 0)],
                  Change(override_points=1.0, reason="half right"), "alice")  # fmt: skip

    out = tmp_path / "reports"
    write_report(course, "essay", book, out)
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["ann"][WHY] == "1.5" and rows["ann"][COMPARE] == "1"
    assert rows["ann"]["total"] == "5.5" and rows["ann"]["final"] == "5.5"
    assert rows["bob"][WHY] == "pending" and rows["bob"][COMPARE] == "pending"
    assert rows["bob"][DOUBLING] == "1" and rows["bob"]["final"] == ""
    assert "not yet graded: 2.1 Why doubling is linear, 2.2 Doubling against squaring" in \
        rows["bob"]["problems"]
    ann_md = (out / "feedback/ann.md").read_text()
    assert "\\+1: states additivity" in ann_md and "Adjustment: +0.5" in ann_md
    assert "Comment: nearly there: \\<b\\>add\\</b\\> an example" in ann_md
    assert "Graded by course staff (alice, " in ann_md
    bob_html = (out / "feedback/bob.html").read_text()
    assert "Points set by course staff (alice, " in bob_html and "Reason: half right" in bob_html
    assert "pending / 2" in bob_html and "incomplete: 2 questions not graded yet" in bob_html
    ann_html = (out / "feedback/ann.html").read_text()
    assert "&lt;b&gt;add&lt;/b&gt;" in ann_html and "<b>add</b>" not in ann_html
    assert (out / "scores.png").stat().st_size > 1000

    roster = tmp_path / "roster.csv"
    roster.write_text("student,sis_id,email,name\nann,1001,ann@u.edu,Ann A\n"
                      "bob,1002,bob@u.edu,Bob B\n")
    export = export_grades(course, "essay", book, "gradescope", tmp_path / "gs.csv",
                           load_roster(roster))  # fmt: skip
    table = list(csv.reader((tmp_path / "gs.csv").open()))
    # an LMS file never holds an empty cell (it would clear a grade there): bob is left out, listed
    assert table[1:] == [["Ann A", "1001", "ann@u.edu", "5.5"]]
    assert any("incomplete: not graded yet: 2.1 Why doubling is linear, 2.2 Doubling against "
               "squaring" in line and "left out" in line and line.endswith("bob")
               for line in export.lines())  # fmt: skip
    export_grades(course, "essay", book, "canvas", tmp_path / "canvas.csv", load_roster(roster))
    plain = export_grades(course, "essay", book, "csv", tmp_path / "plain.csv")
    statuses = {row["student"]: row for row in csv.DictReader((tmp_path / "plain.csv").open())}
    assert statuses["ann"]["final"] == "5.5" and statuses["bob"]["final"] == ""
    assert statuses["bob"]["status"].startswith("incomplete: not graded yet")
    assert plain.rows == 2
