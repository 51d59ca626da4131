"""Reports from the gradebook: a terminal table, grades.csv, feedback per student, and plots.

Everything follows the notebook: questions come in the notebook's order (by the number their
name starts with, read naturally: 1.2 before 1.10 before 2.1), each with its points earned and
possible, and failing cells are named by their position in the notebook and what they define.
Lateness is assessed afresh under the course's current late policy and extensions. Manual
points (`autograder.records.manual_grades`) count beside the tests': written questions with
their rubric items, adjustments and comments, and TAs' overrides of tested questions with their
reasons. A question no TA has graded yet (for the current notebook) is pending, and the final
grade is then incomplete (empty), never a silent 0.

Every text that came from a submission (ids, messages, notes, times) is written through
`autograder.core.safe_text`: in Markdown inside code spans, in HTML escaped, in the CSV as cells no
spreadsheet runs. A message that every test shares (an unreadable notebook) is said once.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.core.config import Course
from autograder.core.errors import UserError
from autograder.core.notebook import read_notebook
from autograder.core.questions import question_order
from autograder.core.safe_text import csv_cell, html_text, markdown_code, markdown_text, one_line
from autograder.core.written import written_questions
from autograder.intake.student_id import student_id
from autograder.records.gradebook import ROSTER_COLUMNS, Gradebook, GradingRun, TestResult
from autograder.records.lateness import Lateness, assess
from autograder.records.manual_grades import MAX_COMMENT, ManualGrades, ManualOutcome

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CELL_COUNTING = "Cells are counted from the top of the notebook, text cells included."
SEE_NOTEBOOK = "see “Your notebook” above"


class ReportError(UserError):
    """Nothing to report, described in one line."""


@dataclass(frozen=True)
class QuestionScore:
    name: str
    earned: float  # 0 while pending
    possible: float
    manual: ManualOutcome | None = None  # a written question, or a TA's override
    tested: float | None = None  # the tests' points, where a TA overrode them

    @property
    def pending(self) -> bool:
        return self.manual is not None and self.manual.earned is None

    def shown(self) -> str:
        """The points as a report shows them: "2 / 3", or "pending / 3"."""
        return f"{'pending' if self.pending else f'{self.earned:g}'} / {self.possible:g}"


@dataclass
class StudentGrade:
    student: str
    roster: dict[str, str]  # roster column -> id ("" when unknown)
    on_roster: bool | None  # None: graded without a roster
    submitted_at: datetime | None
    time_note: str
    lateness: Lateness
    questions: list[QuestionScore]  # in notebook order
    total: float
    possible: float
    penalty: float | None  # None: withheld until a TA resolves the submission time
    final: float | None  # None: withheld, or incomplete (questions pending)
    notes: list[str]
    problems: list[str]
    run: GradingRun
    fault: str | None = None  # the grader could not grade the notebook: no grade, no points

    @property
    def per_question(self) -> dict[str, float]:
        return {question.name: question.earned for question in self.questions}

    @property
    def pending(self) -> list[str]:
        """The questions not yet graded by a TA for this notebook."""
        return [question.name for question in self.questions if question.pending]


def _results_by_question(run: GradingRun) -> dict[str, list[TestResult]]:
    grouped: dict[str, list[TestResult]] = {}
    for result in run.results:
        grouped.setdefault(result.question, []).append(result)
    return {name: grouped[name] for name in question_order(grouped)}


def _problems(grade_notes: list[str], run: GradingRun, lateness: Lateness,
              on_roster: bool | None, questions: list[QuestionScore]) -> list[str]:  # fmt: skip
    problems = [lateness.problem] if lateness.problem else []
    review = [q.name for q in questions if q.manual and q.manual.to_review]
    waiting = [q.name for q in questions if q.pending and q.name not in review]
    if waiting:
        problems.append("not yet graded: " + ", ".join(waiting))
    if review:
        problems.append("manual grade to review (new notebook): " + ", ".join(review))
    if on_roster is False:
        problems.append("not on the roster")
    problems += [note for note in grade_notes if note.startswith("no test could run")]
    kinds = Counter(r.outcome for r in run.results if r.outcome not in ("passed", "skipped"))
    if kinds:
        problems.append("tests not passed: " + ", ".join(f"{kind} {count}"
                                                         for kind, count in sorted(kinds.items())))
    return problems


def _question_scores(run: GradingRun, written: dict[str, float],
                     manual: dict[str, ManualOutcome]) -> list[QuestionScore]:  # fmt: skip
    """The run's tested questions (a TA's override replacing the tests' points) and the lab's
    written questions, in notebook order."""
    scores = {}
    for name, results in _results_by_question(run).items():
        tested = sum(r.points_earned for r in results)
        possible = sum(r.points_possible for r in results)
        override = manual.get(name)
        scores[name] = QuestionScore(name, tested, possible) if override is None else \
            QuestionScore(name, override.earned or 0.0, possible, override, tested)
    for name, possible in written.items():
        outcome = manual.get(name) or ManualOutcome(name, "written", None, possible)
        scores[name] = QuestionScore(name, outcome.earned or 0.0, possible, outcome)
    return [scores[name] for name in question_order(scores)]


def student_grades(course: Course, lab_id: str, gradebook: Gradebook) -> list[StudentGrade]:
    lab = course.lab(lab_id)
    written = {question.name: question.points
               for question in written_questions(read_notebook(lab.notebook))}  # fmt: skip
    runs = gradebook.latest_runs(lab_id)
    tested: dict[str, float] = {}
    for run in runs:
        for name, results in _results_by_question(run).items():
            tested.setdefault(name, sum(result.points_possible for result in results))
    manual = ManualGrades(gradebook, lab_id).outcomes(
        {run.submission.student.student_id: run.submission.sha256 for run in runs}, written,
        tested)  # fmt: skip
    grades = []
    for run in runs:
        submission = run.submission
        student = submission.student
        questions = _question_scores(run, written, manual[student.student_id])
        total = sum(question.earned for question in questions)
        lateness = assess(course, lab_id, student.student_id, submission.submitted_at)
        penalty = None if lateness.fraction is None else min(total, lateness.fraction * lab.points)
        complete = not any(question.pending for question in questions)
        notes = [str(note) for note in json.loads(run.notebook_notes or "[]")]
        grades.append(StudentGrade(
            student=student.student_id, roster=student.roster_ids(), on_roster=student.on_roster,
            submitted_at=submission.submitted_at, time_note=submission.time_note or "",
            lateness=lateness, questions=questions, total=total,
            possible=sum(question.possible for question in questions), penalty=penalty,
            final=None if penalty is None or not complete else max(0.0, total - penalty),
            notes=notes, run=run,
            problems=_problems(notes, run, lateness, student.on_roster, questions),
        ))  # fmt: skip
    for run in gradebook.faults(lab_id):  # not graded because of the grader: withheld, no points
        submission, student = run.submission, run.submission.student
        grades.append(StudentGrade(
            student=student.student_id, roster=student.roster_ids(), on_roster=student.on_roster,
            submitted_at=submission.submitted_at, time_note=submission.time_note or "",
            lateness=assess(course, lab_id, student.student_id, submission.submitted_at),
            questions=[], total=0.0, possible=lab.points, penalty=None, final=None, notes=[],
            problems=[f"not graded: the grader failed ({run.fault}); run the same grade command "
                      "again"], run=run, fault=run.fault,
        ))  # fmt: skip
    return sorted(grades, key=lambda grade: grade.student)


def _total_text(grade: StudentGrade) -> str:
    return "-" if grade.fault else f"{grade.total:g}"


# --------------------------------------------------------------------------- formatting


def _moment(moment: datetime | None, course: Course) -> str:
    if moment is None:
        return "unknown"
    return f"{moment.astimezone(course.timezone):%Y-%m-%d %H:%M %Z}"


def _duration(minutes: float) -> str:
    whole = round(minutes)
    days, rest = divmod(whole, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{mins} min"]
    return " ".join(parts)


def _lateness_text(grade: StudentGrade, course: Course) -> str:
    """One plain sentence on when the work came in and what that cost (no submission text)."""
    lateness = grade.lateness
    due = f"due {_moment(lateness.due, course)}"
    if lateness.extension:
        due += f", {lateness.extension}"
    if lateness.minutes_late is None:
        return f"Submission time unknown ({due})."
    when = f"Submitted {_moment(grade.submitted_at, course)}"
    if lateness.minutes_late <= 0:
        return f"{when}, on time ({due})."
    cost = f"penalty {grade.penalty:g}" if grade.penalty else "no penalty"
    return f"{when}, {_duration(lateness.minutes_late)} late ({due}; {cost})."


def _score_text(grade: StudentGrade, points: float) -> str:
    if grade.fault:
        return ("not graded yet: the grader itself failed, not your code; course staff will "
                "grade it again")
    if grade.pending:
        count = len(grade.pending)
        return (f"incomplete: {count} question{'s' * (count > 1)} not graded yet "
                f"({', '.join(grade.pending)}); {grade.total:g} / {points:g} so far")
    if grade.final is None:
        return (f"withheld ({grade.total:g} / {points:g} before any late penalty; the submission "
                "time is unknown)")
    if grade.penalty:
        return (f"{grade.final:g} / {points:g} "
                f"(tests {grade.total:g}, late penalty {grade.penalty:g})")
    return f"{grade.final:g} / {points:g}"


def _test_label(result: TestResult) -> str:
    return result.name.removeprefix("test_").replace("_", " ")


def _said_in_notes(message: str, notes: list[str]) -> bool:
    return bool(message) and any(message in note for note in notes)


def test_result_text(result: TestResult, notes: list[str]) -> str:
    """One test as plain text for places that show no markup (Gradescope): outcome, test,
    points and, when it did not pass, its message (or a pointer to the notebook's notes)."""
    line = (f"{result.outcome}: {_test_label(result)} "
            f"({result.points_earned:g} / {result.points_possible:g})")  # fmt: skip
    if result.outcome != "passed" and result.message:
        line += f": {SEE_NOTEBOOK}" if _said_in_notes(result.message, notes) else \
            f": {result.message}"
    return one_line(line, 1000)


def results_by_question(grade: StudentGrade) -> list[tuple[QuestionScore, list[TestResult]]]:
    """Each question of a grade (notebook order) with its tests' results (none for a written
    question)."""
    results = _results_by_question(grade.run)
    return [(question, results.get(question.name, [])) for question in grade.questions]


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def manual_lines(question: QuestionScore) -> list[str]:
    """A question's manual part in plain sentences (no markup): what the student reads of a
    TA's grade, with who and when."""
    outcome = question.manual
    if outcome is None:
        return []
    by = f" ({outcome.grader}, {_when(outcome.graded_at)})" if outcome.grader else ""
    if outcome.kind == "override":
        lines = [f"Points set by course staff{by}: {question.shown()} "
                 f"(the tests gave {question.tested or 0:g})"]
        lines += [f"Reason: {outcome.reason}"] if outcome.reason else []
    elif outcome.earned is None and not outcome.to_review:
        return ["Pending: graded by course staff, not yet graded."]
    else:
        lines = [f"Graded by course staff{by}."]
        lines += [f"{points:+g}: {text}" for points, text in outcome.items]
        lines += [f"Adjustment: {outcome.adjustment:+g}"] if outcome.adjustment else []
        lines += [f"Comment: {outcome.comment}"] if outcome.comment else []
    if outcome.to_review:
        lines.append("Pending: you submitted a new notebook since; course staff will review "
                     "this grade.")  # fmt: skip
    return lines


def terminal_table(grades: list[StudentGrade], course: Course) -> str:
    if not grades:
        return "no graded submissions"
    names = [one_line(grade.student, 64) for grade in grades]
    width = max(7, *(len(name) for name in names))
    lines = [f"{'student':<{width}}  {'total':>7}  {'late':>6}  {'final':>8}  "
             f"{'submitted':<20}  sandbox      problems"]  # fmt: skip
    for name, grade in zip(names, grades):
        late = "?" if grade.penalty is None else f"{-grade.penalty if grade.penalty else 0.0:.2f}"
        final = "pending" if grade.pending else \
            "withheld" if grade.final is None else f"{grade.final:.2f}"
        total = "-" if grade.fault else f"{grade.total:.2f}"
        lines.append(f"{name:<{width}}  {total:>7}  {late:>6}  {final:>8}  "
                     f"{_moment(grade.submitted_at, course):<20}  {grade.run.sandbox:<11}  "
                     f"{one_line('; '.join(grade.problems), 200) or '-'}")  # fmt: skip
    finals = [g.final for g in grades if g.final is not None]
    mean = f"mean final {sum(finals) / len(finals):.2f}" if finals else "no final grades"
    faults = sum(1 for g in grades if g.fault)
    incomplete = sum(1 for g in grades if g.pending)
    withheld = len(grades) - len(finals) - incomplete - faults
    lines.append(f"{len(grades)} students, {mean}"
                 + (f"; {incomplete} incomplete: questions not graded yet, see autograder "
                    "review" if incomplete else "")
                 + (f"; {withheld} withheld: submission time unknown, see README "
                    "(late_policy.unknown_time, extensions)" if withheld else "")
                 + (f"; {faults} not graded because the grader failed: run the same grade "
                    "command again" if faults else ""))  # fmt: skip
    if any(g.run.sandbox != "bwrap" for g in grades):
        lines.append("WARNING: some submissions ran without bubblewrap (resource limits only)")
    return "\n".join(lines)


def write_csv(grades: list[StudentGrade], path: Path, course: Course) -> None:
    questions = question_order(q.name for grade in grades for q in grade.questions)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *ROSTER_COLUMNS, "submitted_at", "minutes_late",
                         *(csv_cell(question) for question in questions), "total", "possible",
                         "late_penalty", "final", "problems", "sandbox", "sha256"])  # fmt: skip
        for grade in grades:
            shown = {q.name: "pending" if q.pending else f"{q.earned:g}" for q in grade.questions}
            late = grade.lateness.minutes_late
            submitted = (grade.submitted_at.astimezone(course.timezone).isoformat()
                         if grade.submitted_at else "unknown")  # fmt: skip
            writer.writerow([
                csv_cell(grade.student),
                *(csv_cell(grade.roster.get(column, "")) for column in ROSTER_COLUMNS),
                submitted, "" if late is None else f"{late:.0f}",
                *(shown[q] if q in shown else "" for q in questions),
                "" if grade.fault else f"{grade.total:g}", f"{grade.possible:g}",
                "" if grade.penalty is None else f"{grade.penalty:g}",
                "" if grade.final is None else f"{grade.final:g}",
                csv_cell("; ".join(grade.problems), 1000), csv_cell(grade.run.sandbox),
                grade.run.submission.sha256,
            ])  # fmt: skip


def feedback_markdown(course: Course, lab_id: str, grade: StudentGrade) -> str:
    lab = course.lab(lab_id)
    run = grade.run
    lines = [f"# {markdown_text(lab.title)}", "",
             f"Feedback for {markdown_code(grade.student)}.", "",
             f"**Score: {markdown_text(_score_text(grade, lab.points))}**", "",
             markdown_text(_lateness_text(grade, course)), ""]  # fmt: skip
    if grade.lateness.problem:
        lines += [f"Note: {markdown_code(grade.lateness.problem)}", ""]
    if run.sandbox != "bwrap":
        lines += ["*Graded without bubblewrap: resource limits only.*", ""]
    if grade.notes:
        lines += ["## Your notebook", "", CELL_COUNTING, ""]
        lines += [f"- {markdown_code(note)}" for note in grade.notes] + [""]
    lines += ["## Questions", "", "| question | points |", "|---|---|"]
    lines += [f"| {markdown_text(q.name)} | {q.shown()} |" for q in grade.questions]
    lines += [f"| **total** | **{_total_text(grade)} / {grade.possible:g}**"
              f"{' (so far)' if grade.pending else ''} |", ""]  # fmt: skip
    for score, results in results_by_question(grade):
        lines += [f"### {markdown_text(score.name)}: {score.shown()}", ""]
        lines += [f"- {markdown_text(line, MAX_COMMENT)}" for line in manual_lines(score)]
        for result in results:
            item = (f"- {markdown_text(result.outcome)}: {markdown_text(_test_label(result))} "
                    f"({result.points_earned:g} / {result.points_possible:g})")  # fmt: skip
            if result.outcome != "passed" and result.message:
                item += (f": {SEE_NOTEBOOK}" if _said_in_notes(result.message, grade.notes)
                         else f": {markdown_code(result.message)}")  # fmt: skip
            lines.append(item)
        lines.append("")
    lines.append(markdown_text(f"Graded on {run.device}, grader {run.grader_version}, "
                               f"run {run.run_id}."))  # fmt: skip
    return "\n".join(lines) + "\n"


_HTML_STYLE = """body{font-family:sans-serif;max-width:60em;margin:2em auto}
td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
li.passed b{color:green} li:not(.passed) b{color:#b00} code{white-space:pre-wrap}"""


def feedback_html(course: Course, lab_id: str, grade: StudentGrade) -> str:
    lab = course.lab(lab_id)
    run = grade.run
    parts = [f"<h1>{html_text(lab.title)}</h1>",
             f"<p>Feedback for <code>{html_text(grade.student)}</code>.</p>",
             f"<p><b>Score: {html_text(_score_text(grade, lab.points))}</b></p>",
             f"<p>{html_text(_lateness_text(grade, course))}</p>"]  # fmt: skip
    if grade.lateness.problem:
        parts.append(f"<p>Note: {html_text(grade.lateness.problem)}</p>")
    if run.sandbox != "bwrap":
        parts.append("<p><i>Graded without bubblewrap: resource limits only.</i></p>")
    if grade.notes:
        parts.append(f"<h2>Your notebook</h2><p>{html_text(CELL_COUNTING)}</p><ul>"
                     + "".join(f"<li><code>{html_text(n)}</code></li>" for n in grade.notes)
                     + "</ul>")  # fmt: skip
    rows = "".join(f"<tr><td>{html_text(q.name)}</td><td>{q.shown()}</td></tr>"
                   for q in grade.questions)  # fmt: skip
    so_far = " (so far)" if grade.pending else ""
    parts.append(f"<h2>Questions</h2><table><tr><th>question</th><th>points</th></tr>{rows}"
                 f"<tr><th>total</th><th>{_total_text(grade)} / {grade.possible:g}{so_far}</th>"
                 "</tr></table>")  # fmt: skip
    for score, results in results_by_question(grade):
        items = [f"<li class=\"manual\">{html_text(line, MAX_COMMENT)}</li>"
                 for line in manual_lines(score)]  # fmt: skip
        for result in results:
            message = ""
            if result.outcome != "passed" and result.message:
                message = (f": {html_text(SEE_NOTEBOOK)}"
                           if _said_in_notes(result.message, grade.notes)
                           else f": <code>{html_text(result.message)}</code>")  # fmt: skip
            kind = "passed" if result.outcome == "passed" else "not-passed"
            items.append(f"<li class=\"{kind}\"><b>{html_text(result.outcome)}</b>: "
                         f"{html_text(_test_label(result))} ({result.points_earned:g} / "
                         f"{result.points_possible:g}){message}</li>")  # fmt: skip
        parts.append(f"<h3>{html_text(score.name)}: {score.shown()}</h3>"
                     f"<ul>{''.join(items)}</ul>")  # fmt: skip
    parts.append(f"<p><small>Graded on {html_text(run.device)}, sandbox {html_text(run.sandbox)}, "
                 f"run {html_text(run.run_id)}.</small></p>")  # fmt: skip
    body = "\n".join(parts)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html_text(lab.title)}: {html_text(grade.student)}</title>"
            f"<style>{_HTML_STYLE}</style></head><body>\n{body}\n</body></html>\n")  # fmt: skip


def score_figure(grades: list[StudentGrade], possible: float) -> Figure:
    """The histogram of final scores and, per question in notebook order, how many students
    earned all its points; both counted in whole students."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    questions = question_order(q.name for grade in grades for q in grade.questions)
    full_marks = Counter(q.name for grade in grades for q in grade.questions
                         if q.possible and not q.pending and q.earned >= q.possible)  # fmt: skip
    finals = [grade.final for grade in grades if grade.final is not None]
    figure = Figure(figsize=(12, 4.5))
    left, right = figure.subplots(1, 2)
    left.hist(finals, bins=min(20, max(5, len(finals))), range=(0, possible), color="#4477aa")
    incomplete = sum(1 for grade in grades if grade.pending)
    withheld = len(grades) - len(finals) - incomplete
    missing = [f"{incomplete} incomplete"] * bool(incomplete) + [f"{withheld} withheld"] * bool(
        withheld)
    left.set(title="final scores" + (f" ({', '.join(missing)})" if missing else ""),
             xlabel="points", ylabel="students")  # fmt: skip
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.barh(questions, [full_marks[q] for q in questions], color="#66aa55")
    right.set(title="students with full points, per question", xlim=(0, max(1, len(grades))),
              xlabel="students")  # fmt: skip
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.invert_yaxis()  # the notebook's first question on top
    figure.tight_layout()
    return figure


def write_plot(grades: list[StudentGrade], path: Path, possible: float) -> None:
    score_figure(grades, possible).savefig(path, dpi=100)


def feedback_file_stem(student: str) -> str:
    """A feedback file's name: the student id (already safe, unless stored by an older kit)."""
    return student_id(student)


def write_report(
    course: Course, lab_id: str, gradebook: Gradebook, out: Path
) -> list[StudentGrade]:
    grades = student_grades(course, lab_id, gradebook)
    if not grades:
        raise ReportError(f"no graded submissions of {lab_id} in {gradebook.url}; grade first")
    out.mkdir(parents=True, exist_ok=True)
    write_csv(grades, out / "grades.csv", course)
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for grade in grades:
        stem = feedback_file_stem(grade.student)
        (feedback / f"{stem}.md").write_text(feedback_markdown(course, lab_id, grade),
                                             encoding="utf-8")  # fmt: skip
        (feedback / f"{stem}.html").write_text(feedback_html(course, lab_id, grade),
                                               encoding="utf-8")  # fmt: skip
    write_plot(grades, out / "scores.png", course.lab(lab_id).points)
    return grades
