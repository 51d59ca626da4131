"""The code that runs inside the sandbox: a fork server for submissions.

Started once per grading worker (`python -I -m autograder.sandbox.worker`), the server imports
NumPy, torch, IPython, matplotlib and the lab's own imports once, proves that it can start a
confined child (a canary: the sandbox never blames a student for a child it could not start),
says hello, and then, for each submission:

1. receives a "start" frame on its control socket (its stdin) carrying, as an SCM_RIGHTS
   descriptor, one end of a socket pair the grader made for this submission alone: the
   submission's own channel;
2. starts the submission's child, confined as the sandbox's mode allows (`Namespaces` under
   bubblewrap, `SharedMachine` with the limits only); the child drops to the sandbox's uid, keeps
   only its channel, sends "begun" once its harness is set up (before any student code), runs the
   notebook and serves the judge's calls;
3. when the child is gone, makes sure nothing of it survives, as the trusted side: under
   bubblewrap the submission's namespaces are gone with it (the kernel ends every process of its
   pid namespace and frees its /tmp, /dev/shm and IPC objects); with the limits only it kills
   every process of the sandbox uid until none is left and removes, as root, what that uid left
   in the machine's shared folders and its System V IPC objects (by owner and by creator). Then
   it checks that the state is clean, and reports on the control socket how the child ended and
   whether it is ("exited"); a sandbox that is not clean is replaced by the grader, never reused.

The server keeps the privileges it needs for that (root, or capabilities inside bubblewrap's user
namespace) and never runs student code; it is non-dumpable, and its children cannot signal it:
under bubblewrap they live in a pid namespace of their own, with the limits only they run as
another uid (with a root grader). It never reads what a child writes: only the grader does, on
the child's own channel. The child sets its limits (hard limits it cannot raise), seeds every
generator, runs the notebook with `autograder.sandbox.execute.run_notebook` (each cell under a
CPU-time limit, and a backstop on the time it spends neither running nor waiting to run) and
serves the judge's calls, each under the CPU time left to the current test (and runs the test
cells of labs imported from nbgrader or Otter in the notebook's namespace:
`autograder.sandbox.test_cells`), until the grader closes the channel. The grader enforces the
same limits again from outside (see `autograder.sandbox.monitor`): a child that disarms its own
timers still meets them.

Protocol: length-prefixed JSON (see `autograder.sandbox.boundary`); the student's own stdout and
stderr go to /dev/null or the bounded buffer of `run_notebook`, never to a protocol socket.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

from autograder.core.processes import descendants
from autograder.sandbox import confine
from autograder.sandbox.cleanup import (
    end_processes_of,
    key_count,
    kill_until_gone,
    leftovers,
    reap,
    remove_files_of,
    remove_tree,
)
from autograder.sandbox.monitor import Window

# How a child ends when a limit it enforces itself is passed (the grader reads these codes).
EXIT_HARNESS_FAILED = 70
EXIT_OUT_OF_MEMORY = 71
EXIT_NOTEBOOK_TIME = 72  # the notebook's cells used more CPU time than notebook_timeout_s
EXIT_TEST_TIME = 73  # a test's calls used more CPU time than test_timeout_s
CPU_GRACE_S = 2  # the kernel's own CPU limit (SIGXCPU) fires this long after ours, for C loops
IDLE_TICK_S = 1.0  # how often a cell's sleeping time is looked at
CHANNEL_FD = 3
TMP_BYTES = 512 * 2**20  # each submission's /tmp (a tmpfs of its own under bubblewrap)
SHM_BYTES = 64 * 2**20  # and its /dev/shm
MODES = ("namespaces", "shared")  # under bubblewrap; limits only (the machine is shared)


# ------------------------------------------------------------------ the submission's child


class CellTimeout(BaseException):
    """A cell's time limit; a BaseException, so `except Exception` in the cell does not hide it."""


def _limit(kind: int, soft: int | None, hard: int | None = None) -> None:
    if soft is None:
        return
    try:
        resource.setrlimit(kind, (soft, soft if hard is None else hard))
    except (ValueError, OSError):
        pass


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads, user and system)."""
    return time.process_time()


def _prepare_determinism(seed: int, device: str) -> None:
    import random

    import numpy as np
    import torch

    os.environ["COURSELIB_DEVICE"] = device
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def _bound_gpu_memory(memory_mb: int) -> None:
    """A submission may take at most `memory_mb` of its GPU; the child's exit frees it all."""
    import torch

    if torch.cuda.is_available():
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, memory_mb * 2**20 / total), 0)


class CpuLimit:
    """Kernel and interpreter limits on the CPU time of what runs next, and a backstop on the
    time it spends asleep.

    The interpreter's limit (ITIMER_PROF, SIGPROF) ends Python code exactly at `seconds`; the
    kernel's (RLIMIT_CPU soft limit, SIGXCPU) follows CPU_GRACE_S later for code that stays in C.
    With `idle_s`, a tick every IDLE_TICK_S (ITIMER_REAL) reads how long this process and its
    children neither ran nor waited to run (`autograder.sandbox.monitor.Window`) and ends the
    code once that passes `idle_s`: a busy machine makes code wait, not sleep, so only CPU time
    decides a verdict. A signal that arrives after `disarm()` (or for a limit that is not armed)
    does nothing: nothing pending can fire later. The grader enforces the same limits from
    outside, so disarming these only changes which message the student reads.
    """

    def __init__(self, hard_cpu_s: int):
        self.hard_cpu_s = hard_cpu_s
        self.armed: tuple[str, float, float] | None = None
        self.idle: Window | None = None
        self.on_expiry = self._raise_cell_timeout
        signal.signal(signal.SIGPROF, self._expired)
        signal.signal(signal.SIGALRM, self._expired)

    def arm(self, what: str, seconds: float, idle_s: float | None) -> None:
        self.armed = (what, seconds, idle_s or 0.0)
        soft = math.ceil(_cpu_seconds() + seconds) + CPU_GRACE_S
        _limit(resource.RLIMIT_CPU, min(soft, self.hard_cpu_s), self.hard_cpu_s)
        signal.setitimer(signal.ITIMER_PROF, max(seconds, 0.001))
        if idle_s:
            self.idle = Window(math.inf, idle_s, _own_processes)
            self.idle.check()  # counted from now, not from the first tick
            signal.setitimer(signal.ITIMER_REAL, IDLE_TICK_S, IDLE_TICK_S)

    def disarm(self) -> None:
        self.armed = None
        self.idle = None
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _expired(self, signum: int, frame: Any) -> None:
        if self.armed is None:
            return
        what, seconds, idle_s = self.armed
        if signum == signal.SIGALRM:
            if self.idle is None or self.idle.check() != "idle":
                return
            self.disarm()
            self.on_expiry(f"{what} ran past its time limit ({idle_s:g} s without running, "
                           f"for {seconds:g} s of CPU time)")  # fmt: skip
        else:
            self.disarm()
            self.on_expiry(f"{what} ran past its time limit of {seconds:g} s of CPU time")

    @staticmethod
    def _raise_cell_timeout(message: str) -> None:
        raise CellTimeout(message)


def _own_processes() -> list[int]:
    """This process and every process below it."""
    return [os.getpid(), *descendants(os.getpid())]


def _enter_private_folder(folder: str, fontlist: dict[str, bytes]) -> None:
    """Work, temporary files, HOME and matplotlib's config all inside the submission's folder."""
    os.chmod(folder, 0o700)
    for part in ("work", "tmp", "mpl"):
        os.mkdir(os.path.join(folder, part), 0o700)
    for name, data in fontlist.items():  # matplotlib's font cache, so it is not rebuilt
        with open(os.path.join(folder, "mpl", name), "wb") as handle:
            handle.write(data)
    os.environ.update(TMPDIR=os.path.join(folder, "tmp"), HOME=folder,
                      MPLCONFIGDIR=os.path.join(folder, "mpl"))  # fmt: skip
    tempfile.tempdir = None  # tempfile reads TMPDIR again
    import matplotlib

    # matplotlib remembers the server's folders; this submission writes only in its own
    private = os.path.join(folder, "mpl")
    matplotlib.get_configdir = matplotlib.get_cachedir = lambda: private
    os.chdir(os.path.join(folder, "work"))


def _serve_submission(channel: int, folder: str, fontlist: dict[str, bytes]) -> None:
    """The submission's child: limits, notebook, then calls until the grader closes the channel.
    It says "begun" once its harness is ready: a child that ends before that is the grader's
    failure (retried), never the student's."""
    import nbformat
    import numpy as np

    from autograder.sandbox import boundary, execute, test_cells
    from autograder.testing import applied_context

    request = boundary.read_message(channel, None, boundary.MAX_REQUEST_BYTES)
    limits = request["limits"]
    device = str(request["device"])
    memory = int(limits["memory_mb"]) * 2**20
    # hard limits (equal to the soft ones): the child cannot raise them again
    if device.startswith("cuda"):
        # CUDA reserves tens of GB of address space up front: bound private data instead
        _limit(resource.RLIMIT_DATA, _status_bytes("VmData") + memory)
    else:
        _limit(resource.RLIMIT_AS, _status_bytes("VmSize") + memory)
    hard_cpu_s = int(limits["cpu_s"])
    _limit(resource.RLIMIT_CPU, hard_cpu_s)
    _limit(resource.RLIMIT_FSIZE, int(limits["max_output_bytes"]))
    _limit(resource.RLIMIT_NPROC, int(limits["max_processes"]))
    _limit(resource.RLIMIT_CORE, 0)
    _enter_private_folder(folder, fontlist)
    _prepare_determinism(int(request["seed"]), device)
    if device.startswith("cuda"):
        _bound_gpu_memory(int(limits["memory_mb"]))
    boundary.write_message(channel, {"op": "begun"})

    cpu = CpuLimit(hard_cpu_s)
    cell_s, wall_factor = float(limits["cell_timeout_s"]), float(limits["wall_factor"])
    notebook_s = float(limits["notebook_timeout_s"])

    class CellGuard:
        def __enter__(self) -> None:
            cpu.arm("the cell", cell_s, cell_s * wall_factor)

        def __exit__(self, *exc: Any) -> None:
            cpu.disarm()
            if _cpu_seconds() - cpu_at_start > notebook_s:
                os._exit(EXIT_NOTEBOOK_TIME)

    nb = nbformat.from_dict(request["notebook"])
    started, cpu_at_start = time.perf_counter(), _cpu_seconds()
    run = execute.run_notebook(nb, tuple(request["skip_tags"]), cwd=None, guard=CellGuard)
    namespace = run.namespace
    handles = boundary.HandleTable()
    boundary.write_message(channel, {
        "op": "ready", "seconds": time.perf_counter() - started,
        "cpu": _cpu_seconds() - cpu_at_start, "output": run.output[-4000:],
        "cells": [{"index": c.index, "grade_id": c.grade_id, "error": c.error, "notes": c.notes}
                  for c in run.cells],
    })  # fmt: skip

    def resolve(data: dict) -> Any:
        return handles.get(data["id"])

    def out_of_test_time(message: str) -> None:
        os._exit(EXIT_TEST_TIME)  # no exception student code could catch: the child ends

    cpu.on_expiry = out_of_test_time
    while True:
        try:
            message = boundary.read_message(channel, None, boundary.MAX_REQUEST_BYTES)
        except EOFError:  # the grader closed the channel: the submission is done
            os._exit(0)
        op = message.get("op")
        started, cpu_before = time.perf_counter(), _cpu_seconds()
        cpu.arm("the test", float(message["cpu_left"]), None)  # the grader keeps the wall clock
        caught: list[dict] = []  # warnings the call emitted, raised again in the test
        try:
            # the test's NumPy error state and warnings filters, around this call only
            with applied_context(message.get("context"), caught):
                if op == "get":
                    name = message["name"]
                    if name not in namespace:
                        reply = {"op": "reply", "missing": True}
                    else:
                        reply = {"op": "reply", "value": boundary.encode(namespace[name], handles)}
                elif op == "call":
                    target = handles.get(message["target"])
                    args = boundary.decode(message["args"], resolve)
                    kwargs = boundary.decode(message["kwargs"], resolve)
                    if message.get("strict"):
                        import warnings

                        with (
                            np.errstate(over="raise", invalid="raise", divide="raise"),
                            warnings.catch_warnings(),
                        ):
                            warnings.simplefilter("error", RuntimeWarning)
                            value = target(*args, **kwargs)
                    else:
                        value = target(*args, **kwargs)
                    reply = {"op": "reply", "value": boundary.encode(value, handles)}
                elif op == "getattr":
                    value = getattr(handles.get(message["target"]), str(message["name"]))
                    reply = {"op": "reply", "value": boundary.encode(value, handles)}
                elif op == "setattr":
                    value = boundary.decode(message["value"], resolve)
                    setattr(handles.get(message["target"]), str(message["name"]), value)
                    reply = {"op": "reply", "value": None}
                elif op == "test_cell":  # a test cell of an imported lab (sandbox.test_cells)
                    # a test cell past its time (CPU, or the grader's backstop against sleeping,
                    # which it sends) is interrupted, as nbgrader interrupts a cell; the child goes
                    # on to the next test instead of a restart that runs the notebook again; a
                    # cell that survives the interruption still meets the kernel's CPU limit
                    cpu.arm("the test", float(message["cpu_left"]),
                            float(message.get("idle_s") or 0) or None)  # fmt: skip
                    cpu.on_expiry = CpuLimit._raise_cell_timeout
                    try:
                        reply = {"op": "reply",
                                 "cell": test_cells.run(message, run.globals, CellTimeout)}
                    finally:
                        cpu.on_expiry = out_of_test_time
                else:
                    reply = {"op": "error", "type": "ProtocolError",
                             "message": f"unknown op {op!r}"}  # fmt: skip
        except BaseException as error:  # noqa: BLE001 - SystemExit from student code included
            if isinstance(error, MemoryError):  # its frames hold what it allocated: free it first
                traceback.clear_frames(error.__traceback__)
            try:
                text = str(error)[:500]
            except BaseException:  # noqa: BLE001 - a hostile __str__
                text = ""
            name = "MemoryError" if isinstance(error, MemoryError) else type(error).__name__
            reply = {"op": "error", "type": name[:80], "message": text}
        cpu.disarm()
        if caught and reply["op"] == "reply":
            reply["warnings"] = caught
        reply.update(id=message["id"], seconds=time.perf_counter() - started,
                     cpu=_cpu_seconds() - cpu_before)  # fmt: skip
        try:
            boundary.write_message(channel, reply)
        except (ValueError, TypeError, RecursionError, boundary.BoundaryError) as error:
            boundary.write_message(channel, {
                "op": "error", "type": "BoundaryError", "message": str(error)[:300],
                "id": message["id"], "seconds": reply["seconds"], "cpu": reply["cpu"],
            })  # fmt: skip


# ------------------------------------------------------------------ confining a child


def _submission_process(main: Callable[[int, str], None], channel: int, folder: str,
                        uid: int | None) -> None:  # fmt: skip
    """The submission's own process: its channel only, the sandbox uid without privileges, no
    keyrings; then `main` (never returns)."""
    try:
        if channel != CHANNEL_FD:
            os.dup2(channel, CHANNEL_FD)
        confine.close_all_but(CHANNEL_FD)
        confine.drop_privileges(uid)
        confine.deny_keyrings()
        confine.die_with_parent()  # after the uid changed: a change of ids clears the request
        main(CHANNEL_FD, folder)
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
    except BaseException:  # noqa: BLE001 - reported as a crash through the exit code
        if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
            traceback.print_exc()
        os._exit(EXIT_HARNESS_FAILED)
    os._exit(0)


class Namespaces:
    """Under bubblewrap: each submission in namespaces of its own (pid, mount, IPC, UTS,
    network) with a fresh /tmp, /dev/shm and /proc, so that nothing it leaves survives it.

    The server forks a middle process, which enters new namespaces and forks the namespace's
    init (pid 1: it cannot be signalled from inside); the init mounts the fresh file systems,
    makes the submission's folder and forks the submission's process. When that process ends,
    the init reports its exact wait status on a pipe to the server and exits, and the kernel
    kills whatever else ran in the namespace before the init is gone."""

    def __init__(self, uid: int | None):
        self.uid = uid  # None: the grader is not root (one uid; children lose every capability)
        self.keys_at_start = key_count(self._key_owner())

    def _key_owner(self) -> int:
        return self.uid if self.uid is not None else os.getuid()

    def run(self, main: Callable[[int, str], None], channel: int) -> tuple[int | None, bool]:
        """Run `main` as a confined submission on `channel`: (its wait status, clean)."""
        status_read, status_write = os.pipe()
        middle = os.fork()
        if middle == 0:
            try:
                confine.close_all_but(channel, status_write)
                confine.new_namespaces()
                init = os.fork()
                if init == 0:
                    self._init(main, channel, status_write)
                os.close(channel)
                os.close(status_write)
                os.waitpid(init, 0)
            finally:
                os._exit(0)
        os.close(status_write)
        os.close(channel)
        os.waitpid(middle, 0)
        with os.fdopen(status_read, "rb") as pipe:
            data = pipe.read(8)
        status = struct.unpack("i", data)[0] if len(data) == 4 else None
        return status, self._clean()

    def _init(self, main: Callable[[int, str], None], channel: int, status_write: int) -> None:
        try:
            for number in signal.valid_signals():  # as init, ignore what the namespace sends
                try:
                    signal.signal(number, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
            confine.private_filesystems(TMP_BYTES, SHM_BYTES)
            confine.loopback_up()
            folder = tempfile.mkdtemp(prefix="submission-", dir="/tmp")
            if self.uid is not None:
                os.chown(folder, self.uid, self.uid)
            child = os.fork()
            if child == 0:
                os.close(status_write)
                _submission_process(main, channel, folder, self.uid)
            os.close(channel)
            while True:
                pid, status = os.waitpid(-1, 0)
                if pid == child:
                    break
            os.write(status_write, struct.pack("i", status))
        finally:
            os._exit(0)

    def _clean(self) -> bool:
        """Nothing of the child is left: no process in the server's pid namespace but its init
        and the server, no keys added for the sandbox's uid."""
        reap()
        me = os.getpid()
        others = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                  if pid not in (1, me)]  # fmt: skip
        return not others and key_count(self._key_owner()) <= self.keys_at_start


class SharedMachine:
    """With the limits only: the child runs on the machine itself, as the sandbox's leased uid
    (a root grader), in a folder of its own that the server made; see `autograder.sandbox.
    cleanup` for what is ended and removed after it, and how. Without root (one uid for all),
    what the child started is ended through the server's subtree (the server is a subreaper, so a
    daemon cannot leave it) and its folder is removed; files it wrote in the machine's shared
    folders and its IPC objects stay (the summary warns that such a run is not isolated)."""

    def __init__(self, uid: int | None, scratch: str):
        self.uid = uid
        self.scratch = scratch
        self.keys_at_start = key_count(uid if uid is not None else os.getuid())

    def run(self, main: Callable[[int, str], None], channel: int) -> tuple[int | None, bool]:
        # a submission may have closed the scratch folder (its own when the grader is not root)
        os.makedirs(self.scratch, exist_ok=True)
        os.chmod(self.scratch, 0o711 if self.uid is not None else 0o700)
        folder = tempfile.mkdtemp(prefix="submission-", dir=self.scratch)
        if self.uid is not None:
            os.chown(folder, self.uid, self.uid)
        child = os.fork()
        if child == 0:
            os.setpgid(0, 0)
            _submission_process(main, channel, folder, self.uid)
        os.close(channel)
        while True:  # as a subreaper, collect the child's orphans as they end (RLIMIT_NPROC
            pid, status = os.waitpid(-1, 0)  # counts a zombie of the sandbox uid)
            if pid == child:
                break
        if self.uid is not None:
            ended = end_processes_of(self.uid)
            remove_files_of(self.uid, spare=self.scratch)
        else:
            ended = kill_until_gone(lambda: descendants(os.getpid()))
        remove_tree(folder)
        clean = ended and not os.path.exists(folder)
        if self.uid is not None:
            clean = clean and not leftovers(self.uid, spare=self.scratch)
        clean = clean and key_count(self.uid if self.uid is not None else os.getuid()) \
            <= self.keys_at_start
        return status, clean


def _canary(uid: int | None) -> Callable[[int, str], None]:
    """A child that only proves the confinement works: it runs as the sandbox uid, has no
    capability left and can write in its folder."""

    def main(channel: int, folder: str) -> None:
        if uid is not None and (os.getuid() != uid or os.geteuid() != uid):
            os._exit(EXIT_HARNESS_FAILED)
        with open(os.path.join(folder, "canary"), "w") as handle:
            handle.write("ok")

    return main


# ------------------------------------------------------------------ the server


def _describe_status(status: int | None) -> dict:
    if status is None:  # the child's own process never started (or its report was lost)
        return {"signal": None, "code": None}
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status), "code": None}
    return {"signal": None, "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}


def _receive_channel(control: socket.socket) -> int:
    """The next submission's channel, passed with a "start" frame; the server ends when the grader
    closes the control socket or sends anything else."""
    from autograder.sandbox import boundary

    data, fds, _, _ = socket.recv_fds(control, 4096, 1)
    try:
        (size,) = boundary.HEADER.unpack(data[: boundary.HEADER.size])
        well_formed = size == len(data) - boundary.HEADER.size and len(fds) == 1
        if well_formed and json.loads(data[boundary.HEADER.size:]) == {"op": "start"}:
            return fds[0]
    except ValueError:
        pass
    os._exit(0)


def _read_fontlist() -> dict[str, bytes]:
    mpl_cache = "/opt/mplcache"
    found = {}
    if os.path.isdir(mpl_cache):
        for name in os.listdir(mpl_cache):
            if name.startswith("fontlist"):
                with open(os.path.join(mpl_cache, name), "rb") as handle:
                    found[name] = handle.read()
    return found


def serve(uid: int | None, mode: str, preload: list[str]) -> None:
    confine.die_with_parent()
    control = socket.socket(fileno=os.dup(0))  # the grader's end of a socket pair, as stdin
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if not os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
        os.dup2(null, 2)
    os.close(null)
    confine.make_undumpable()
    confine.become_subreaper()
    scratch = os.environ.get("TMPDIR") or "/tmp"  # the private /tmp, or the grader's folder
    fontlist = _read_fontlist()
    # The server's own HOME and matplotlib config, for its imports only (children get folders
    # of their own, see _enter_private_folder).
    own = tempfile.mkdtemp(prefix="server-", dir=scratch)
    for name, data in fontlist.items():
        with open(os.path.join(own, name), "wb") as handle:
            handle.write(data)
    os.environ.update(HOME=own, MPLCONFIGDIR=own)
    import IPython.core.interactiveshell  # noqa: F401 - paid once here, not per submission
    import matplotlib

    import autograder.sandbox.execute  # noqa: F401

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401

    from autograder.sandbox import boundary
    from autograder.sandbox.execute import warm_up

    warm_up(preload)  # the lab's imports, paid here once rather than by every child

    isolation = Namespaces(uid) if mode == "namespaces" else SharedMachine(uid, scratch)
    ours, theirs = socket.socketpair()
    ours.close()
    try:
        status, clean = isolation.run(_canary(uid), theirs.detach())
        problem = "" if status == 0 and clean else \
            f"a test child ended with {_describe_status(status)} (clean: {clean})"
    except OSError as error:
        problem = f"a test child could not be started ({error})"
    if problem:
        control.sendall(boundary.frame({"op": "broken", "why": problem[:300]}))
        os._exit(0)
    control.sendall(boundary.frame({"op": "hello", "pid": os.getpid(), "uid": os.getuid()}))

    def main(channel: int, folder: str) -> None:
        _serve_submission(channel, folder, fontlist)

    while True:
        channel = _receive_channel(control)
        status, clean = isolation.run(main, channel)
        control.sendall(boundary.frame({"op": "exited", **_describe_status(status),
                                        "clean": clean}))  # fmt: skip


if __name__ == "__main__":
    uid_arg = sys.argv[1] if len(sys.argv) > 1 else ""
    options = dict(arg[2:].split("=", 1) for arg in sys.argv[2:] if arg.startswith("--")
                   and "=" in arg)  # fmt: skip
    serve(int(uid_arg) if uid_arg.isdigit() else None, options.get("mode", "shared"),
          [name for name in options.get("preload", "").split(",") if name])
