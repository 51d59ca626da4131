"""The local process pool: the default `Executor` of a batch (`autograder.judging.executor`).

Each worker is a long-lived process holding its own sandbox server (its own uid) and the
reference namespace, so imports, the reference notebook and the sandbox start are paid once per
worker; each submission then costs one fork and its own tests. Results go back to the batch's
recorder in the parent process, the only writer of the gradebook. The workers import this
module: it needs no gradebook (SQLAlchemy).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import sys
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder.core.config import Course, load_course
from autograder.core.errors import GraderFault
from autograder.judging.executor import Job, verdict_result

if TYPE_CHECKING:
    from autograder.judging.grading import BatchRecorder

MAX_FAULT_ATTEMPTS = 3  # gradings of one notebook when the grader itself fails (then a fault)


class LocalPool:
    """Grade in `workers` processes of this machine."""

    def __init__(self, workers: int = 1):
        self.workers = workers

    def grade(self, jobs: list[Job], recorder: BatchRecorder) -> set[str]:
        _grade_in_pools(recorder.course, recorder.lab_id, jobs, self.workers, recorder.device,
                        recorder)  # fmt: skip
        return set()  # the workers' sandboxes are this machine's


# --------------------------------------------------------------------------- worker process

_worker_state: dict[str, Any] = {}


# How long a grading worker waits for the first one to be ready before preparing anyway.
STAGGER_WAIT_S = 30.0


def staggered(workers: int, cores: int | None) -> bool:
    """Whether workers after the first wait for it to be ready before paying their own start:
    each start runs two heavy processes (the sandbox server and the reference notebook), so
    when the cores cannot hold all of them at once the first submission would otherwise start
    only when every worker is ready; waiting costs no throughput there, the cores being full."""
    return workers > 1 and (cores or 1) < 2 * workers


def _init_worker(slots: Any, root: str, device: str, lab_id: str, first_ready: Any) -> None:
    from autograder.judging import judge

    slot = slots.get()
    if slot != 0 and first_ready is not None:
        first_ready.wait(STAGGER_WAIT_S)
    judge.configure(slot=slot, device=device)
    # atexit runs last-registered first: the sandbox (and its scratch folder) is closed, then the
    # worker leaves without tearing down torch, pytest and every module one by one (over a
    # second of a TA's wait after the last grade, for memory the system frees anyway).
    atexit.register(_leave_now)
    atexit.register(judge.shutdown)
    try:
        course = load_course(Path(root))
        _worker_state.update(course=course, device=device)
        judge.prepare(course, lab_id, device)
    finally:
        if slot == 0 and first_ready is not None:
            first_ready.set()


def _leave_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _grade_in_worker(lab_id: str, path: str) -> dict:
    from autograder.judging import judge

    course = _worker_state["course"]
    return verdict_result(judge.grade_notebook(course, lab_id, Path(path), _worker_state["device"]))


# --------------------------------------------------------------------------- the pools


def _grade_in_pools(course: Course, lab_id: str, todo: list[Job],
                    workers: int, device: str, recorder: BatchRecorder) -> None:  # fmt: skip
    """Grade `todo` in pools of worker processes; a pool that a dying worker broke is rebuilt.

    A submission that was being graded when a worker died is graded again; after a second such
    death it is graded alone, and if its worker dies then too, that is recorded as a grader
    fault (the worker is the grader's). A submission whose grading failed in the grader is graded
    again (in a fresh sandbox) until MAX_FAULT_ATTEMPTS, then recorded as a fault. Submissions
    that had not started yet are graded again as if nothing happened.
    """
    deaths: Counter = Counter()
    attempts: Counter = Counter()
    queue = list(todo)

    def failed(job: Job, reason: str) -> None:
        attempts[job[0].student] += 1
        if attempts[job[0].student] < MAX_FAULT_ATTEMPTS:
            queue.append(job)
        else:
            recorder.fault(*job, reason)
            recorder.bar.update(1)

    while queue:
        together = [job for job in queue if deaths[job[0].student] < 2]
        alone = [job for job in queue if deaths[job[0].student] >= 2]
        queue = []
        died, waited = _grade_in_pool(course, lab_id, together, workers, device, recorder,
                                      failed)  # fmt: skip
        for job in died:
            deaths[job[0].student] += 1
        queue += died + waited  # the jobs that were only waiting when a pool broke: unpenalised
        for job in alone:
            died_alone, waited = _grade_in_pool(course, lab_id, [job], 1, device, recorder,
                                                failed)  # fmt: skip
            queue += waited
            for dead in died_alone:
                recorder.fault(*dead, "the grading worker died three times while grading this "
                               "notebook (the last time grading it alone)")  # fmt: skip
                recorder.bar.update(1)


def _grade_in_pool(course: Course, lab_id: str, jobs: list[Job], workers: int,
                   device: str, recorder: BatchRecorder,
                   failed: Any) -> tuple[list, list]:  # fmt: skip
    """Grade `jobs` in one pool: (the jobs that were running when a worker died, the jobs that
    had not started yet then); every other job is stored, or handed to `failed` with the reason
    the grader failed on it."""
    if not jobs:
        return [], []
    workers = max(1, min(workers, len(jobs)))
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    first_ready = context.Event() if staggered(workers, os.cpu_count()) else None
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                   initializer=_init_worker,
                                   initargs=(slots, str(course.root), device, lab_id,
                                             first_ready))  # fmt: skip
    died: list = []
    waiting: list = []
    try:
        pending = {executor.submit(_grade_in_worker, lab_id, str(sub.path)): (sub, sha)
                   for sub, sha in jobs}  # fmt: skip
        started: set = set()
        while pending:
            started |= {future for future in pending if future.running()}
            done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    (died if future in started else waiting).append(job)
                    continue
                except Exception as error:  # noqa: BLE001 - the grader failed on this notebook
                    failed(job, f"{type(error).__name__}: {str(error)[:200]}"
                           if not isinstance(error, GraderFault) else str(error))  # fmt: skip
                    continue
                recorder.store(*job, result)
                recorder.bar.update(1)
    except KeyboardInterrupt:
        executor.shutdown(wait=False, cancel_futures=True)
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        raise
    except BaseException:
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()  # the batch stops (a gradebook that stopped answering): no waiting
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return died, waiting

