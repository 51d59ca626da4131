"""Grade a batch on a Dask (`distributed`) cluster: the client side of `grade --scheduler`.

`--scheduler local:N` starts a LocalCluster of N worker processes here; `--scheduler
tcp://host:8786` uses the scheduler there. `DaskCluster` is the batch's executor for it (see
`autograder.judging.executor`; the CLI hands it to `grade_batch`): `grade_on_cluster` registers
the worker plugin (`autograder.distributed.worker_plugin.GradingWorker`, shipping the course
bundle), then sends each submission as a task carrying the notebook's bytes and hands each
result, as it comes back, to the batch's recorder (`autograder.judging.grading.BatchRecorder`):
the client stays the only gradebook writer, one transaction per submission, so resuming, whole
runs and skipping unchanged notebooks hold as with the local pool.

Faults. The scheduler does not retry (the client sets its `allowed_failures` to 0): a worker
that dies fails every task it held with KilledWorker, and the client sends each one again. A
death counts against a submission only when its task had started on that worker (the task logs
its key to a scheduler event topic when it starts), so an innocent notebook that merely waited in
a killer's queue is never blamed. A task that fails in the grader (a sandbox that cannot start,
a pytest session that cannot run) is sent again too. A submission during which two workers died,
or whose grading failed MAX_ERRORS times, is recorded as a grader fault (never a grade: the
same command run again grades it), and none is sent more than MAX_ATTEMPTS times. A lost
scheduler stops the batch with one line; what was stored stays, and the same command resumes.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from autograder.core.config import Course
from autograder.core.errors import UserError
from autograder.distributed.course_bundle import pack

if TYPE_CHECKING:
    from autograder.judging.executor import Job
    from autograder.judging.grading import BatchRecorder

CONNECT_TIMEOUT_S = 10
WORKER_WAIT_S = 60  # how long a batch waits for the cluster's first worker
DEATHS_TO_CRASH = 2  # workers that died while grading one submission before it is a fault
MAX_ERRORS = 3  # tasks of one submission that failed in the grader before it is a fault
MAX_ATTEMPTS = 4  # sends of one submission, whatever happened (a lost "started" event included)
GPU_RESOURCE = "GPU"
LOCAL_SCHEDULER = re.compile(r"local:(\d+)")
SCHEDULER_ADDRESS = re.compile(r"[a-z][a-z0-9+.-]*://\S+")


class ClusterError(UserError):
    """A cluster that cannot be used (a wrong address, no workers, a lost scheduler): one line."""


def check_scheduler(spec: str) -> str:
    """`spec` if it is `local:N` (N >= 1) or a scheduler address; else a one-line ClusterError."""
    local = LOCAL_SCHEDULER.fullmatch(spec)
    if (local and int(local.group(1)) >= 1) or (not local and SCHEDULER_ADDRESS.fullmatch(spec)):
        return spec
    raise ClusterError(f"--scheduler {spec}: expected local:N (N worker processes here) or a "
                       "scheduler address such as tcp://host:8786")  # fmt: skip


@contextlib.contextmanager
def cluster_client(spec: str) -> Iterator[Any]:
    """A `distributed.Client` for `spec`: a LocalCluster of N processes for `local:N` (closed at
    the end), else the scheduler at that address (a wrong one is a one-line ClusterError)."""
    from distributed import Client, LocalCluster

    local = LOCAL_SCHEDULER.fullmatch(check_scheduler(spec))
    with contextlib.ExitStack() as stack:
        address = spec
        if local:
            cluster = stack.enter_context(LocalCluster(
                n_workers=int(local.group(1)), threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR,
            ))  # fmt: skip
            address = cluster.scheduler_address
        try:
            client = stack.enter_context(Client(address, timeout=CONNECT_TIMEOUT_S))
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"--scheduler {spec}: no Dask scheduler answered there within "
                               f"{CONNECT_TIMEOUT_S} s ({type(error).__name__})") from None
        yield client


def _workers(client: Any) -> list[dict]:
    return list(client.scheduler_info(n_workers=-1)["workers"].values())


def grading_slots(client: Any, device: str, gpu_share: float) -> int:
    """How many submissions the cluster grades at once: one per worker thread; on CUDA one per
    `gpu_share` of the workers' GPU resources."""
    if device.startswith("cuda"):
        gpus = sum(info.get("resources", {}).get(GPU_RESOURCE, 0) for info in _workers(client))
        return int(gpus / gpu_share + 1e-9)
    return sum(info.get("nthreads", 0) for info in _workers(client))


def _check_cluster(client: Any, spec: str, device: str, gpu_share: float) -> None:
    from autograder.distributed.worker_plugin import no_retries

    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise ClusterError(f"--scheduler {spec}: the scheduler has no workers "
                           f"(waited {WORKER_WAIT_S} s)") from None  # fmt: skip
    threads = {info.get("nthreads") for info in _workers(client)}
    if threads - {1}:
        raise ClusterError(f"--scheduler {spec}: workers with {max(threads)} threads; start "
                           "grading workers with --nthreads 1")  # fmt: skip
    if device.startswith("cuda") and grading_slots(client, device, gpu_share) < 1:
        raise ClusterError(f"--scheduler {spec}: no worker declares a GPU; start GPU workers "
                           f"with --resources {GPU_RESOURCE}=1")  # fmt: skip
    try:
        client.run_on_scheduler(no_retries)
    except Exception as error:  # noqa: BLE001 - e.g. a scheduler without the kit installed
        raise ClusterError(f"--scheduler {spec}: the scheduler cannot run the kit "
                           f"({type(error).__name__}); install the kit there too") from None


class DaskCluster:
    """The `Executor` of `grade --scheduler SPEC`: a mistyped SPEC is one line at once, before
    anything is read or graded."""

    def __init__(self, scheduler: str):
        self.scheduler = check_scheduler(scheduler)

    def grade(self, jobs: list[Job], recorder: BatchRecorder) -> set[str]:
        lab = recorder.course.lab(recorder.lab_id)
        return grade_on_cluster(recorder.course, recorder.lab_id, jobs, self.scheduler,
                                recorder.device, recorder.digest, recorder,
                                gpu_share=1 / lab.submissions_per_gpu)  # fmt: skip


def plugin_name(lab_id: str, digest: str, device: str) -> str:
    return f"autograder-{lab_id}-{device}-{digest[:12]}"


def _lost(spec: str, left: int) -> ClusterError:
    return ClusterError(f"--scheduler {spec}: lost the scheduler with {left} submissions not "
                        "graded; what was graded is stored: run the same command again to "
                        "resume")  # fmt: skip


def grade_on_cluster(course: Course, lab_id: str, todo: list[tuple[Any, str]], scheduler: str,
                     device: str, digest: str, recorder: Any,
                     gpu_share: float = 1.0) -> set[str]:  # fmt: skip
    """Grade `todo` ((submission, sha256) pairs) on the cluster, handing each result, as it comes
    back, to the batch's `recorder` (its `store`, or its `fault` for a notebook the grader could
    not grade); returns the sandbox modes the workers graded in."""
    from distributed import as_completed
    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker

    from autograder.distributed.worker_plugin import (
        GradingWorker,
        grade_submission,
        started_topic,
    )

    name = plugin_name(lab_id, digest, device)
    resources = {GPU_RESOURCE: gpu_share} if device.startswith("cuda") else None
    modes: set[str] = set()
    queue = list(reversed(todo))
    in_flight: dict[Any, tuple[Any, str]] = {}
    attempts: dict[int, int] = {}  # id(job) -> tasks sent for it
    deaths: dict[int, int] = {}  # id(job) -> workers that died while its task ran
    errors: dict[int, int] = {}  # id(job) -> tasks that failed in the grader (not a death)
    with cluster_client(scheduler) as client:
        _check_cluster(client, scheduler, device, gpu_share)
        client.register_plugin(GradingWorker(pack(course, lab_id), lab_id, device, name))
        finished = as_completed()

        def submit_next() -> None:
            # one task per free slot: a worker that dies takes down only its own submission
            while queue and len(in_flight) < max(1, grading_slots(client, device, gpu_share)):
                submission, sha = job = queue.pop()
                future = client.submit(
                    grade_submission, name, lab_id, submission.path.name,
                    submission.path.read_bytes(), resources=resources, pure=False,
                )  # fmt: skip
                in_flight[future] = job
                attempts[id(job)] = attempts.get(id(job), 0) + 1
                finished.add(future)

        def send_again(future: Any, job: tuple[Any, str], killed: bool) -> bool:
            """After a failure: count a worker's death if the task had started there (or the
            grader's error), then send the submission again unless it has used up its deaths,
            errors or attempts."""
            if killed:
                started = {message for _, message in client.get_events(started_topic(name))}
                if str(future.key) in started:
                    deaths[id(job)] = deaths.get(id(job), 0) + 1
            else:
                errors[id(job)] = errors.get(id(job), 0) + 1
            if (deaths.get(id(job), 0) < DEATHS_TO_CRASH and attempts[id(job)] < MAX_ATTEMPTS
                    and errors.get(id(job), 0) < MAX_ERRORS):  # fmt: skip
                queue.append(job)  # next to be sent
                return True
            return False

        try:
            submit_next()
            for future in finished:
                job = in_flight.pop(future)
                if future.status == "cancelled" or client.status != "running":
                    raise _lost(scheduler, len(in_flight) + len(queue) + 1)
                failed = future.status == "error"
                killed = failed and isinstance(future.exception(), KilledWorker)
                again = failed and send_again(future, job, killed)
                submit_next()  # before storing: the cluster never waits on the gradebook
                if again:
                    pass
                elif future.status == "finished":
                    result = future.result()
                    modes.add(result["sandbox"])
                    recorder.store(*job, result)
                elif killed and deaths.get(id(job), 0) >= DEATHS_TO_CRASH:
                    recorder.fault(*job, "two grading workers died while grading this notebook "
                                   "(killed, or out of memory)")  # fmt: skip
                elif killed:
                    recorder.fault(*job, f"the grading workers holding this notebook died "
                                   f"{attempts[id(job)]} times (killed, or out of memory)")
                else:
                    error = future.exception()
                    recorder.fault(*job, f"the grader failed on this notebook "
                                   f"{errors.get(id(job), 0)} times ({type(error).__name__}: "
                                   f"{str(error)[:200]})")  # fmt: skip
                future.release()
                if not again:
                    recorder.bar.update(1)
        except (CancelledError, CommClosedError, TimeoutError):  # the scheduler went away
            raise _lost(scheduler, len(in_flight) + len(queue)) from None
        finally:
            if client.status == "running":
                client.cancel(list(in_flight))
                with contextlib.suppress(Exception):
                    client.unregister_worker_plugin(name)
    return modes
