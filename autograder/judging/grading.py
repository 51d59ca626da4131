"""Grade a batch of submissions: what to grade, progress, gradebook writes, and a summary.

The batch's logic is the same whichever `Executor` grades the notebooks (the local process pool
by default, or a Dask cluster the CLI hands in; see `autograder.judging.executor`): notebooks
already graded against the same tests are skipped, one that is not a notebook is graded zero
here, and the parent process is the only writer of the gradebook: every finished submission is
committed at once (one transaction per run), so an interrupted batch keeps everything graded so
far and resumes where it stopped. A notebook the grader could not grade is a fault, never a
grade.
"""
from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autograder.core.config import Course
from autograder.core.notebook import NotebookError, read_notebook
from autograder.core.safe_text import one_line

if TYPE_CHECKING:  # the gradebook (SQLAlchemy) is imported when a batch runs, not before
    from autograder.intake import Submission
    from autograder.judging.executor import Executor
    from autograder.records.gradebook import Gradebook


def resolve_device(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise NotebookError("--device cuda: this machine has no CUDA device; use cpu or auto")
    return device


@dataclass
class BatchSummary:
    lab: str
    graded: int = 0
    skipped: int = 0
    invalid: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    outcomes: Counter = field(default_factory=Counter)
    sandbox: str = ""
    overheads: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    unknown_times: list[str] = field(default_factory=list)  # students, with the time problem
    warnings: list[str] = field(default_factory=list)  # one line per submission
    faults: list[str] = field(default_factory=list)  # "student: reason", not graded (grader's)
    stopped: str = ""  # why the batch stopped before the end (the gradebook stopped answering)

    def lines(self, possible: float) -> list[str]:
        mean = sum(self.scores.values()) / len(self.scores) if self.scores else 0.0
        failures = ", ".join(f"{kind} {count}" for kind, count in sorted(self.outcomes.items())
                             if kind != "passed") or "none"  # fmt: skip
        lines = [
            f"{self.lab}: graded {self.graded}, skipped {self.skipped} (already graded), "
            f"not notebooks {self.invalid}, in {self.wall_s:.0f} s",
            f"mean score {mean:.2f}/{possible:g} over {len(self.scores)} students; "
            f"failed tests by kind: {failures}",
        ]
        if self.unknown_times:
            lines.append(f"submission time unknown: {len(self.unknown_times)}: "
                         + "; ".join(self.unknown_times[:10])
                         + (" ..." if len(self.unknown_times) > 10 else ""))  # fmt: skip
        lines += self.warnings
        if self.faults:
            lines.append(f"not graded because of the grader: {len(self.faults)} (no grade "
                         "recorded; the same command grades them again): "
                         + "; ".join(one_line(fault, 200) for fault in self.faults[:10])
                         + (" ..." if len(self.faults) > 10 else ""))  # fmt: skip
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        if self.sandbox and self.sandbox != "bwrap":
            lines.append("WARNING: bubblewrap is unavailable: student code ran with resource "
                         "limits only, without filesystem or network isolation")  # fmt: skip
        return lines


MAX_NOTES = 50
MAX_NOTE = 300
_DEFINITION = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+([A-Za-z_]\w*)", re.MULTILINE)


def _cell_label(cell: dict, nb: Any) -> str:
    """"cell 21 (sigmoid)": the cell's position as Jupyter shows it (1-based, every cell counted)
    and what it defines (its top-level functions and classes, else its nbgrader grade_id)."""
    index = cell.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        return "a cell"
    names: list[str] = []
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    if 0 <= index < len(cells) and isinstance(cells[index].get("source"), str):
        names = list(dict.fromkeys(_DEFINITION.findall(cells[index]["source"][:100_000])))
    if not names and isinstance(cell.get("grade_id"), str) and cell["grade_id"]:
        names = [cell["grade_id"]]
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"cell {index + 1}" + (f" ({one_line(shown, 80)})" if shown else "")


def notebook_notes(report: dict, nb: Any = None) -> list[str]:
    """One line per error or note of a cell, "cell 21 (sigmoid): NotImplementedError: ...".

    `report["cells"]` comes from the sandbox (`index`: the cell's 0-based position among all
    cells; `grade_id`); `nb` is the submitted notebook, read here to name what a cell defines."""
    notes = []
    for cell in report.get("cells", []):
        if not isinstance(cell, dict):
            continue
        label = _cell_label(cell, nb)
        if cell.get("error"):
            notes.append(one_line(f"{label}: {cell['error']}", MAX_NOTE))
        notes += [one_line(f"{label}: {note}", MAX_NOTE) for note in cell.get("notes", [])]
    return notes[:MAX_NOTES]


def _whole_notebook_problem(records: list[dict]) -> str:
    """The one reason every test failed for, when no test ran on its own (an unreadable
    notebook): said once in the notes rather than once per test."""
    messages = {record["message"] for record in records}
    if records and len(messages) == 1 and all(r["outcome"] != "passed" for r in records):
        return f"no test could run: {messages.pop()}"
    return ""


# --------------------------------------------------------------------------- the batch


def _invalid_records(tests: list[dict], message: str) -> list[dict]:
    return [{**test, "earned": 0.0, "outcome": "error", "message": message, "duration": 0.0}
            for test in tests]  # fmt: skip


def _test_list(course: Course, lab_id: str) -> list[dict]:
    from autograder.judging.hidden_tests import run_hidden_tests

    return [record.__dict__ | {} for record in run_hidden_tests(course, lab_id, collect_only=True)]



@dataclass
class BatchRecorder:
    """The batch's one writer: stores each graded notebook, or a grader fault, in the gradebook,
    and keeps the summary. A fault is never a grade (see `Gradebook.record_fault`)."""

    course: Course
    lab_id: str
    gradebook: Gradebook
    digest: str
    device: str
    summary: BatchSummary
    answer_cells: Any = None  # autograder.core.written.AnswerCells of the lab
    manual: Any = None  # autograder.records.manual_grades.ManualGrades: answers kept for review
    bar: Any = None

    def _run(self, submission: Submission, sha: str, report: dict, records: list[dict],
             wall_s: float, student_s: float, sandbox: str) -> Any:  # fmt: skip
        from autograder.records.gradebook import GradedRun
        from autograder.records.lateness import assess

        lateness = assess(self.course, self.lab_id, submission.student, submission.submitted_at)
        warnings: list[str] = []
        try:
            nb = read_notebook(submission.path, warnings_out=warnings)
        except NotebookError:
            nb = None
        notes = notebook_notes(report, nb)
        if not report:
            notes = [problem for problem in [_whole_notebook_problem(records)] if problem]
        if nb is not None and self.manual is not None:  # before the run: a graded run always
            self.manual.store_answers(submission.student, sha,  # has its answers
                                      self.answer_cells.answers_in(nb))  # fmt: skip
        graded = GradedRun(
            student=submission.student, lab=self.lab_id, sha256=sha,
            filename=str(submission.path), submitted_at=submission.submitted_at,
            minutes_late=lateness.minutes_late or 0.0, late_fraction=lateness.fraction or 0.0,
            tests_digest=self.digest, device=self.device, sandbox=sandbox, wall_s=wall_s,
            student_s=student_s, notebook_notes=notes, records=records,
            time_note=submission.time_note, roster=dict(submission.roster),
            on_roster=submission.on_roster,
        )  # fmt: skip
        return graded, lateness, warnings

    def store(self, submission: Submission, sha: str, result: dict) -> None:
        """A grade: the records a grading worker sent back (see `verdict_result`)."""
        graded, lateness, warnings = self._run(
            submission, sha, result["report"], result["records"], result["wall_s"],
            result["student_s"], result["sandbox"])  # fmt: skip
        self.gradebook.record(graded)
        summary = self.summary
        total = sum(record["earned"] for record in result["records"])
        summary.scores[submission.student] = total * (1 - (lateness.fraction or 0.0))
        summary.outcomes.update(record["outcome"] for record in result["records"])
        summary.graded += 1
        if result["wall_s"]:
            summary.overheads.append(result["wall_s"] - result["student_s"])
        if lateness.problem:
            summary.unknown_times.append(f"{submission.student} ({submission.time_note})")
        if warnings:
            summary.warnings.append(f"{submission.student}: notebook warnings: "
                                    + "; ".join(warnings))  # fmt: skip

    def fault(self, submission: Submission, sha: str, reason: str) -> None:
        """The grader could not grade this notebook (after retries): recorded as a fault, which
        is no grade, and named in the summary; the next run of the command grades it again."""
        reason = one_line(reason, 300)
        if self.bar is not None:
            self.bar.write(f"autograder: {one_line(submission.student, 64)}: not graded "
                           f"(the grader's fault): {reason}")  # fmt: skip
        graded, _, _ = self._run(submission, sha, {}, [], 0.0, 0.0, self.summary.sandbox)
        self.gradebook.record_fault(graded, reason)
        self.summary.faults.append(f"{submission.student}: {reason}")


def grade_batch(
    course: Course,
    lab_id: str,
    submissions: list[Submission],
    gradebook: Gradebook,
    workers: int = 1,
    device: str = "cpu",
    force: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
) -> BatchSummary:
    """Grade `submissions` into `gradebook` with `executor`: by default a local pool of `workers`
    processes (`autograder.judging.local_pool.LocalPool`); `grade --scheduler` hands in a Dask
    cluster (`autograder.distributed.client.DaskCluster`).

    A failure of the grader itself (a sandbox that cannot start, a pytest session that cannot
    run, a worker that dies) is retried by the executor, then recorded as a fault, never as a
    grade. A gradebook that stops answering stops the batch (`summary.stopped`): what was stored
    stays, and the same command resumes."""
    from tqdm import tqdm

    from autograder.core.written import AnswerCells
    from autograder.judging.local_pool import LocalPool
    from autograder.records.gradebook import GradebookUnavailable, file_sha256, tests_digest
    from autograder.records.manual_grades import ManualGrades
    from autograder.sandbox import isolation

    started = time.perf_counter()
    course.lab(lab_id)
    executor = executor or LocalPool(workers)
    digest = tests_digest(course, lab_id)
    summary = BatchSummary(lab=lab_id, sandbox=isolation())
    # What each notebook answered is kept for the TAs' review (written answers, code cells).
    recorder = BatchRecorder(course, lab_id, gradebook, digest, device, summary,
                             AnswerCells.of(read_notebook(course.lab(lab_id).notebook)),
                             ManualGrades(gradebook, lab_id))  # fmt: skip
    todo: list[tuple[Submission, str]] = []
    invalid: list[tuple[Submission, str, str]] = []
    for submission in submissions:
        sha = file_sha256(submission.path) if submission.path.is_file() else "missing"
        if not force and gradebook.complete_run(submission.student, lab_id, sha, digest, device):
            summary.skipped += 1
            continue
        try:
            read_notebook(submission.path)
        except NotebookError as error:
            invalid.append((submission, sha, str(error)))
            continue
        todo.append((submission, sha))

    try:
        if invalid:
            tests = _test_list(course, lab_id)
            for submission, sha, message in invalid:
                recorder.store(submission, sha, {
                    "records": _invalid_records(tests, message), "report": {}, "wall_s": 0.0,
                    "student_s": 0.0, "sandbox": summary.sandbox})  # fmt: skip
                summary.invalid += 1
        if todo:
            recorder.bar = tqdm(total=len(todo), desc=f"grading {lab_id}", unit="sub",
                                disable=not progress, dynamic_ncols=True)  # fmt: skip
            try:
                modes = executor.grade(todo, recorder)
                if modes:  # the summary warns about the workers' sandboxes, not this one's
                    summary.sandbox = "bwrap" if modes == {"bwrap"} else "limits only"
            finally:
                recorder.bar.close()
    except GradebookUnavailable as error:
        left = len(todo) + len(invalid) - summary.graded - len(summary.faults)
        summary.stopped = (f"{error}; grading stopped with {left} submissions not recorded: what "
                           "was graded is stored, run the same command again to go on")  # fmt: skip
    summary.wall_s = time.perf_counter() - started
    return summary


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))
