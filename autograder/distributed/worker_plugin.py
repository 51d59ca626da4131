"""The Dask worker side of grading on a cluster: the worker plugin, the task, the preload.

`GradingWorker` is a `distributed` worker plugin: registered by the client
(`autograder.distributed.client`), it runs once in every Dask worker process, and in every worker
that joins or is restarted later. It unpacks the course bundle the client shipped
(`autograder.distributed.course_bundle`) into a private folder of its own and sets the process up
as one kit grading worker: its own sandbox server (started by the first submission and kept,
exactly as in the local pool) and the reference namespace, paid once per process, closed when the
plugin is removed or the worker shuts down. Judge state is per process, so a grading worker runs
one task at a time (`dask worker --nthreads 1`).

`dask worker --preload autograder.distributed` runs `dask_setup` when the worker starts: it refuses
more than one thread and imports what grading needs, so the first submission does not pay for it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from autograder.core.config import Course, load_course
from autograder.distributed.course_bundle import unpack


@dataclass
class _WorkerCourse:
    course: Course
    folder: Path
    device: str


_courses: dict[str, _WorkerCourse] = {}  # plugin name -> the course it unpacked


def worker_slot(name: Any) -> int:
    """The sandbox slot of a worker (which GPU it uses): the number its name ends with (LocalCluster
    names workers 0, 1, ...; `dask worker --name gpu --nworkers 4` names them gpu-0 ... gpu-3)."""
    found = re.search(r"(\d+)$", str(name))
    return int(found.group(1)) if found else 0


class GradingWorker(WorkerPlugin):
    """One kit grading worker per Dask worker process, for one lab of one course."""

    def __init__(self, bundle: bytes, lab_id: str, device: str, name: str):
        self.bundle = bundle
        self.lab_id = lab_id
        self.device = device
        self.name = name

    def setup(self, worker: Any) -> None:
        from autograder.judging import judge

        folder = Path(tempfile.mkdtemp(prefix="autograder-course-"))  # mode 0700: ours alone
        course = load_course(unpack(self.bundle, folder))
        course.lab(self.lab_id)
        judge.configure(slot=worker_slot(worker.name), device=self.device)
        _courses[self.name] = _WorkerCourse(course, folder, self.device)
        # the sandbox server and the reference, paid now rather than by the first submission
        judge.prepare(course, self.lab_id, self.device)

    def teardown(self, worker: Any) -> None:
        from autograder.judging import judge

        state = _courses.pop(self.name, None)
        if not _courses:
            judge.shutdown()  # the sandbox server ends with the last course this worker graded
        if state is not None:
            shutil.rmtree(state.folder, ignore_errors=True)


def grade_submission(plugin: str, lab_id: str, filename: str, notebook: bytes) -> dict:
    """The task: grade one notebook (its bytes) here; returns what `grade_batch` stores."""
    from distributed import get_worker

    from autograder.judging import judge
    from autograder.judging.executor import verdict_result

    # tells the client this task really started here: a worker's death counts against the
    # submission it was grading, never against one that only waited in that worker's queue
    worker = get_worker()
    worker.log_event(started_topic(plugin), str(worker.get_current_task()))
    state = _courses.get(plugin)
    if state is None:
        raise RuntimeError(f"this Dask worker has no course for {plugin} (its setup failed; see "
                           "the worker's log)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="autograder-submission-") as folder:
        path = Path(folder) / (Path(filename).name or "submission.ipynb")
        path.write_bytes(notebook)
        return verdict_result(judge.grade_notebook(state.course, lab_id, path, state.device))


def started_topic(plugin: str) -> str:
    """The scheduler event topic where `grade_submission` logs the key of each task it starts."""
    return f"{plugin}-started"


def no_retries(dask_scheduler: Any) -> None:
    """Run on the scheduler: a task whose worker dies fails at once with KilledWorker, and the
    client decides whether to send it again (the scheduler would also count a death against
    tasks that were only queued on that worker)."""
    dask_scheduler.allowed_failures = 0


def dask_setup(worker: Any) -> None:
    """`dask worker --preload autograder.distributed` (the package re-exports it)."""
    if worker.state.nthreads != 1:
        raise RuntimeError("autograder: start grading workers with --nthreads 1 (judge state is "
                           "per process)")  # fmt: skip
    import torch  # noqa: F401 - the largest import of a grading worker

    from autograder import pytest_plugin  # noqa: F401
    from autograder.judging import judge  # noqa: F401 - imported now, not by the first task
