"""How a batch's notebooks are graded: the one interface between the batch and its graders.

`grade_batch` (`autograder.judging.grading`) decides what to grade (resume, skip, invalid
notebooks), keeps the summary and is the only gradebook writer; an `Executor` only runs the
notebooks it is handed and hands each result back to the batch's recorder, as it comes. Two
implementations: the local process pool (`autograder.judging.local_pool.LocalPool`, the default)
and a Dask cluster (`autograder.distributed.client.DaskCluster`, `grade --scheduler`); the CLI
chooses. Each retries what its own graders fail on (a dead worker, a grader's error) in its own
way, and records a notebook it cannot grade as a fault, never a grade.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from autograder.intake import Submission
    from autograder.judging.grading import BatchRecorder

Job = tuple["Submission", str]  # a submission and its notebook's sha256


class Executor(Protocol):
    def grade(self, jobs: list[Job], recorder: BatchRecorder) -> set[str]:
        """Grade `jobs`, handing each result to `recorder.store` (a notebook the grader could not
        grade to `recorder.fault`) and moving `recorder.bar` on by one for each; returns the
        sandbox modes that graders on other machines graded in (empty: this machine's)."""
        ...


def verdict_result(verdict: Any) -> dict:
    """What a grading worker (of the local pool or of a Dask cluster) sends back for
    `BatchRecorder.store`: the records of a `autograder.judging.judge.Verdict`, and its figures."""
    return {"records": verdict.records, "report": verdict.notebook_report,
            "student_s": verdict.student_seconds, "wall_s": verdict.wall_seconds,
            "sandbox": verdict.sandbox_mode}  # fmt: skip
