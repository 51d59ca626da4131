"""Grade a batch of submissions: workers, progress, gradebook writes, and a summary.

Each worker is a long-lived process holding its own sandbox server (its own uid) and the
reference namespace, so imports, the reference notebook and the sandbox start are paid once per
worker; each submission then costs one fork and its own tests. The parent process is the only
writer of the gradebook: every finished submission is committed at once (one transaction per
run), so an interrupted batch keeps everything graded so far and resumes where it stopped.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.config import Course, load_course
from autograder.gradebook import (
    Gradebook,
    GradedRun,
    file_sha256,
    late_penalty,
    tests_digest,
)
from autograder.intake import Submission
from autograder.notebook import NotebookError, read_notebook


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
        if self.sandbox and self.sandbox != "bwrap":
            lines.append("WARNING: bubblewrap is unavailable: student code ran with resource "
                         "limits only, without filesystem or network isolation")  # fmt: skip
        return lines


# --------------------------------------------------------------------------- worker process

_worker_state: dict[str, Any] = {}


def _init_worker(slots: Any, root: str, device: str) -> None:
    from autograder import judge

    slot = slots.get()
    judge.configure(slot=slot, device=device)
    atexit.register(judge.shutdown)  # the sandbox (and any scratch folder of it) ends with us
    _worker_state.update(course=load_course(Path(root)), device=device)


def _grade_in_worker(lab_id: str, path: str) -> dict:
    from autograder import judge

    course = _worker_state["course"]
    verdict = judge.grade_notebook(course, lab_id, Path(path), _worker_state["device"])
    return {"records": verdict.records, "report": verdict.notebook_report,
            "student_s": verdict.student_seconds, "wall_s": verdict.wall_seconds,
            "sandbox": verdict.sandbox_mode}  # fmt: skip


def notebook_notes(report: dict) -> list[str]:
    notes = []
    for cell in report.get("cells", []):
        if cell.get("error"):
            notes.append(f"cell {cell['index']}: {cell['error']}"[:300])
        notes += [f"cell {cell['index']}: {note}"[:300] for note in cell.get("notes", [])]
    return notes[:50]


# --------------------------------------------------------------------------- the batch


def _invalid_records(tests: list[dict], message: str) -> list[dict]:
    return [{**test, "earned": 0.0, "outcome": "error", "message": message, "duration": 0.0}
            for test in tests]  # fmt: skip


def _test_list(course: Course, lab_id: str) -> list[dict]:
    from autograder.hidden_tests import run_hidden_tests

    return [record.__dict__ | {} for record in run_hidden_tests(course, lab_id, collect_only=True)]


def grade_batch(
    course: Course,
    lab_id: str,
    submissions: list[Submission],
    gradebook: Gradebook,
    workers: int = 1,
    device: str = "cpu",
    force: bool = False,
    progress: bool = True,
) -> BatchSummary:
    from tqdm import tqdm

    from autograder.sandbox import isolation

    started = time.perf_counter()
    course.lab(lab_id)
    digest = tests_digest(course, lab_id)
    summary = BatchSummary(lab=lab_id, sandbox=isolation())
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

    def store(submission: Submission, sha: str, records: list[dict], report: dict,
              wall_s: float, student_s: float, sandbox: str) -> None:  # fmt: skip
        minutes, fraction = late_penalty(course, lab_id, submission.submitted_at)
        gradebook.record(GradedRun(
            student=submission.student, lab=lab_id, sha256=sha, filename=str(submission.path),
            submitted_at=submission.submitted_at, minutes_late=minutes, late_fraction=fraction,
            tests_digest=digest, device=device, sandbox=sandbox, wall_s=wall_s,
            student_s=student_s, notebook_notes=notebook_notes(report), records=records,
        ))  # fmt: skip
        total = sum(record["earned"] for record in records)
        summary.scores[submission.student] = total * (1 - fraction)
        summary.outcomes.update(record["outcome"] for record in records)
        summary.graded += 1

    if invalid:
        tests = _test_list(course, lab_id)
        for submission, sha, message in invalid:
            store(submission, sha, _invalid_records(tests, message), {}, 0.0, 0.0, summary.sandbox)
            summary.invalid += 1
    if not todo:
        summary.wall_s = time.perf_counter() - started
        return summary

    workers = max(1, min(workers, len(todo)))
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    bar = tqdm(total=len(todo), desc=f"grading {lab_id}", unit="sub", disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                   initializer=_init_worker,
                                   initargs=(slots, str(course.root), device))  # fmt: skip
    try:
        pending = {executor.submit(_grade_in_worker, lab_id, str(sub.path)): (sub, sha)
                   for sub, sha in todo}  # fmt: skip
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                submission, sha = pending.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # a grader-side failure: nothing is recorded
                    bar.write(f"autograder: could not grade {submission.student}: "
                              f"{type(error).__name__}: {str(error)[:200]}")  # fmt: skip
                    summary.outcomes["grader error"] += 1
                else:
                    store(submission, sha, result["records"], result["report"], result["wall_s"],
                          result["student_s"], result["sandbox"])  # fmt: skip
                    summary.overheads.append(result["wall_s"] - result["student_s"])
                bar.update(1)
    except KeyboardInterrupt:
        executor.shutdown(wait=False, cancel_futures=True)
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        raise
    finally:
        bar.close()
        executor.shutdown(wait=True, cancel_futures=True)
    summary.wall_s = time.perf_counter() - started
    return summary


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))
