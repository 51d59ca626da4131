"""Reports from the gradebook: a terminal table, grades.csv, feedback per student, and plots.

Feedback lists each test with its points and the message recorded for it (messages are written
by `autograder.feedback` and never contain hidden test code), plus what the notebook's cells
reported (errors, shell commands that were not run).
"""

from __future__ import annotations

import csv
import html
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from autograder.config import Course
from autograder.gradebook import Gradebook, GradingRun


@dataclass
class StudentGrade:
    student: str
    per_question: dict[str, float]
    total: float
    possible: float
    late_fraction: float
    penalty: float
    final: float
    run: GradingRun


def student_grades(course: Course, lab_id: str, gradebook: Gradebook) -> list[StudentGrade]:
    lab = course.lab(lab_id)
    grades = []
    for run in gradebook.latest_runs(lab_id):
        per_question: dict[str, float] = defaultdict(float)
        for result in run.results:
            per_question[result.question] += result.points_earned
        total = sum(per_question.values())
        penalty = min(total, run.submission.late_fraction * lab.points)
        grades.append(StudentGrade(
            student=run.submission.student.student_id, per_question=dict(per_question),
            total=total, possible=sum(r.points_possible for r in run.results),
            late_fraction=run.submission.late_fraction, penalty=penalty,
            final=max(0.0, total - penalty), run=run,
        ))  # fmt: skip
    return grades


def _questions(grades: list[StudentGrade]) -> list[str]:
    seen: dict[str, None] = {}
    for grade in grades:
        for result in grade.run.results:
            seen.setdefault(result.question)
    return list(seen)


def terminal_table(grades: list[StudentGrade]) -> str:
    if not grades:
        return "no graded submissions"
    width = max(7, *(len(g.student) for g in grades))
    lines = [f"{'student':<{width}}  {'total':>7}  {'late':>6}  {'final':>7}  sandbox  problems"]
    for grade in grades:
        bad = [r for r in grade.run.results if r.outcome not in ("passed", "skipped")]
        kinds = ", ".join(sorted({r.outcome for r in bad})) or "-"
        late = -grade.penalty if grade.penalty else 0.0  # never "-0.00"
        lines.append(f"{grade.student:<{width}}  {grade.total:7.2f}  {late:6.2f}  "
                     f"{grade.final:7.2f}  {grade.run.sandbox:<7}  {kinds}")  # fmt: skip
    finals = [g.final for g in grades]
    lines.append(f"{len(grades)} students, mean final {sum(finals) / len(finals):.2f}")
    if any(g.run.sandbox != "bwrap" for g in grades):
        lines.append("WARNING: some submissions ran without bubblewrap (resource limits only)")
    return "\n".join(lines)


def write_csv(grades: list[StudentGrade], path: Path) -> None:
    questions = _questions(grades)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *questions, "total", "late_penalty", "final", "sha256"])
        for grade in grades:
            writer.writerow([grade.student,
                             *(f"{grade.per_question.get(q, 0.0):g}" for q in questions),
                             f"{grade.total:g}", f"{grade.penalty:g}", f"{grade.final:g}",
                             grade.run.submission.sha256])  # fmt: skip


def feedback_markdown(course: Course, lab_id: str, grade: StudentGrade) -> str:
    lab = course.lab(lab_id)
    run = grade.run
    lines = [f"# {lab.title}: feedback for {grade.student}", "",
             f"Score: **{grade.final:g} / {lab.points:g}**"
             + (f" (tests {grade.total:g}, late penalty {grade.penalty:g})" if grade.penalty
                else ""), ""]  # fmt: skip
    if run.sandbox != "bwrap":
        lines += ["_Graded without bubblewrap: resource limits only._", ""]
    notes = json.loads(run.notebook_notes or "[]")
    if notes:
        lines += ["## Your notebook", ""] + [f"- {note}" for note in notes] + [""]
    lines += ["## Tests", "", "| question | test | points | result |", "|---|---|---|---|"]
    for result in run.results:
        message = result.message.replace("|", "\\|").replace("\n", " ")
        verdict = "passed" if result.outcome == "passed" else f"{result.outcome}: {message}"
        lines.append(f"| {result.question} | {result.name.removeprefix('test_').replace('_', ' ')}"
                     f" | {result.points_earned:g}/{result.points_possible:g} | {verdict} |")
    lines += ["", f"Graded on {run.device}, grader {run.grader_version}, run {run.run_id}."]
    return "\n".join(lines) + "\n"


def feedback_html(course: Course, lab_id: str, grade: StudentGrade) -> str:
    lab = course.lab(lab_id)
    run = grade.run
    rows = "\n".join(
        f"<tr class='{html.escape(r.outcome)}'><td>{html.escape(r.question)}</td>"
        f"<td>{html.escape(r.name.removeprefix('test_').replace('_', ' '))}</td>"
        f"<td>{r.points_earned:g}/{r.points_possible:g}</td><td>{html.escape(r.outcome)}</td>"
        f"<td>{html.escape(r.message)}</td></tr>"
        for r in run.results
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in json.loads(run.notebook_notes or "[]"))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(lab.title)}: {html.escape(grade.student)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .6em;
border-bottom:1px solid #ddd;text-align:left}}tr.passed td:nth-child(4){{color:green}}
tr:not(.passed) td:nth-child(4){{color:#b00}}</style></head><body>
<h1>{html.escape(lab.title)}</h1><p>Feedback for <b>{html.escape(grade.student)}</b>:
score <b>{grade.final:g} / {lab.points:g}</b>{f" (late penalty {grade.penalty:g})" if grade.penalty else ""}</p>
{f"<h2>Your notebook</h2><ul>{notes}</ul>" if notes else ""}
<h2>Tests</h2><table><tr><th>question</th><th>test</th><th>points</th><th>outcome</th><th>message</th></tr>
{rows}</table><p><small>Graded on {html.escape(run.device)}, sandbox {html.escape(run.sandbox)},
run {html.escape(run.run_id)}.</small></p></body></html>
"""  # noqa: E501


def write_plot(grades: list[StudentGrade], path: Path, possible: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    questions = _questions(grades)
    passed: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for grade in grades:
        for result in grade.run.results:
            passed[result.question][0] += result.outcome == "passed"
            passed[result.question][1] += 1
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.hist([g.final for g in grades], bins=min(20, max(5, len(grades))), range=(0, possible),
              color="#4477aa")  # fmt: skip
    left.set(title="final scores", xlabel="points", ylabel="students")
    rates = [passed[q][0] / passed[q][1] if passed[q][1] else 0 for q in questions]
    right.barh(questions, rates, color="#66aa55")
    right.set(title="pass rate per question (tests passed)", xlim=(0, 1))
    right.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_report(
    course: Course, lab_id: str, gradebook: Gradebook, out: Path
) -> list[StudentGrade]:
    grades = student_grades(course, lab_id, gradebook)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(grades, out / "grades.csv")
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for grade in grades:
        (feedback / f"{grade.student}.md").write_text(feedback_markdown(course, lab_id, grade))
        (feedback / f"{grade.student}.html").write_text(feedback_html(course, lab_id, grade))
    if grades:
        write_plot(grades, out / "scores.png", course.lab(lab_id).points)
    return grades
