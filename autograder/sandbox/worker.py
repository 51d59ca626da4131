"""The code that runs inside the sandbox: a fork server for submissions.

Started once per grading worker (`python -I -m autograder.sandbox.worker`), the server drops to an
unprivileged uid, makes itself non-dumpable (so no process of that uid can ptrace it or open its
/proc files), imports NumPy, torch, IPython and matplotlib once, and then, for each submission:

1. receives a "start" frame on its control socket (its stdin) carrying, as an SCM_RIGHTS
   descriptor, one end of a socket pair the grader made for this submission alone: the
   submission's own channel;
2. makes a fresh private folder for it (random name, mode 0700) and forks a child, which closes
   every descriptor but that channel (the control socket included) and runs there;
3. when the child is gone: kills whatever it left running, removes every file it could have left
   (the scratch folder, /tmp, /dev/shm, System V IPC objects) and reports on the control socket
   how the child ended ("exited").

The server never runs student code and never reads what a child writes: only the grader does, on
the child's own channel. The child sets its limits, seeds every generator, runs the notebook with
`autograder.sandbox.execute.run_notebook` (each cell under a CPU-time limit with a wall-clock
backstop) and serves the judge's calls (get a name, call, get or set an attribute), each under the
CPU time left to the current test, and runs the test cells of labs imported from nbgrader or Otter
in the notebook's namespace (`autograder.sandbox.test_cells`), until the grader closes the
channel.

Protocol: length-prefixed JSON (see `autograder.sandbox.boundary`); the student's own stdout and
stderr go to /dev/null or the bounded buffer of `run_notebook`, never to a protocol socket.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from functools import cache
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
IPC_RMID = 0

# How a child ends when a limit it enforces itself is passed (the grader reads these codes).
EXIT_HARNESS_FAILED = 70
EXIT_OUT_OF_MEMORY = 71
EXIT_NOTEBOOK_TIME = 72  # the notebook's cells used more CPU time than notebook_timeout_s
EXIT_TEST_TIME = 73  # a test's calls used more CPU time than test_timeout_s
CPU_GRACE_S = 2  # the kernel's own CPU limit (SIGXCPU) fires this long after ours, for C loops
CHANNEL_FD = 3


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _drop_privileges(uid: int | None, keep_read_access: bool) -> None:
    """Become `uid` (as root), and never gain privileges again (setuid programs included).

    `keep_read_access` keeps one capability, CAP_DAC_READ_SEARCH, for a sandbox without
    bubblewrap whose Python installation only root can read (e.g. under /root): the worker can
    still import from it, but writes only where any unprivileged uid can, and RLIMIT_NPROC binds
    it (it binds every uid but root's).
    """
    libc = _libc()
    if uid is not None and os.getuid() == 0:
        if keep_read_access and libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_KEEPCAPS) failed")
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if keep_read_access:
            header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
            only_read = 1 << CAP_DAC_READ_SEARCH
            # effective, permitted, inheritable for capabilities 0-31, then 32-63
            data = (ctypes.c_uint32 * 6)(only_read, only_read, 0, 0, 0, 0)
            if libc.capset(header, data) != 0:
                raise OSError(ctypes.get_errno(), "capset failed")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    # Non-dumpable: a child (same uid) can neither ptrace the server nor open /proc/<server>/fd.
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _die_with_parent() -> None:
    """Without bwrap's --die-with-parent: ask the kernel for SIGKILL when the parent dies."""
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


# ------------------------------------------------------------------ after each submission


def _kill_leftovers() -> None:
    """Kill every process of this pid namespace but the server and the namespace's init."""
    me = os.getpid()
    for _ in range(3):
        found = False
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, me):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
                except (ProcessLookupError, PermissionError):
                    pass
        if not found:
            return
        _reap()
        time.sleep(0.01)


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def status_fields(pid: int) -> dict[str, str]:
    """The fields of /proc/<pid>/status ({} when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)
    except OSError:
        return {}


def processes_of(uid: int, living_only: bool = False) -> list[int]:
    """Pids whose real uid is `uid` (read from /proc/<pid>/status: a non-dumpable process's
    /proc folder belongs to root, whatever its uid); `living_only` leaves zombies out."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = status_fields(int(entry))
            if fields.get("Uid", "").split("\t")[:1] == [str(uid)]:
                if not (living_only and fields.get("State", "").startswith("Z")):
                    found.append(int(entry))
    return found


def wait_until_gone(uid: int, spare: int | None = None, timeout_s: float = 5.0) -> None:
    """Wait for killed processes of `uid` (but `spare`) to be dead: until then one could still
    finish a write it had begun."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not [pid for pid in processes_of(uid, living_only=True) if pid != spare]:
            return
        _reap()
        time.sleep(0.01)


def _end_leftovers(child: int, own_pid_namespace: bool, own_uid: bool) -> None:
    """Kill whatever the finished `child` left running, as widely as this sandbox allows."""
    if own_pid_namespace:
        _kill_leftovers()
        return
    # with a uid of our own (leased by the grader for this sandbox alone), kill(-1) reaches every
    # process of it (also one that left the child's process group with setsid) and nothing else;
    # otherwise the child's process group
    try:
        os.kill(-1 if own_uid else -child, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _reap()
    if own_uid:
        wait_until_gone(os.getuid(), spare=os.getpid())


IPC_TABLES = {"shm": "shmid", "sem": "semid", "msg": "msqid"}  # /proc/sysvipc/<kind>: id column


def _remove_ipc_objects(uid: int) -> None:
    """System V shared memory, semaphores and message queues outlive processes: remove `uid`'s."""
    libc = _libc()
    me = str(uid)
    for kind, id_column in IPC_TABLES.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header = table.readline().split()
                rows = [dict(zip(header, line.split())) for line in table]
        except OSError:
            continue
        for row in rows:
            if row.get("uid") != me or not row.get(id_column, "").isdigit():
                continue
            ident = int(row[id_column])
            if kind == "shm":
                libc.shmctl(ident, IPC_RMID, None)
            elif kind == "sem":
                libc.semctl(ident, 0, IPC_RMID)
            else:
                libc.msgctl(ident, IPC_RMID, None)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def remove_files_of(uid: int, spare: str | None = None) -> None:
    """Remove what `uid` left in the machine's shared /tmp, /var/tmp and /dev/shm (but `spare`),
    and its System V IPC objects: for a uid leased to one sandbox, all of it is that sandbox's."""
    for shared in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            names = os.listdir(shared)
        except OSError:
            continue
        for name in names:
            path = os.path.join(shared, name)
            if spare and os.path.realpath(path) == os.path.realpath(spare):
                continue
            try:
                if os.lstat(path).st_uid == uid:
                    _remove(path)
            except OSError:
                pass
    _remove_ipc_objects(uid)


def _clear_scratch(scratch: str, own_uid: bool, keep: frozenset[str] = frozenset()) -> None:
    """Remove every file a submission could have left for the next one.

    `scratch` (the private /tmp under bubblewrap, the grader's private folder without) is emptied
    whole but for `keep` (what bubblewrap put there: read-only binds of a course under /tmp). The
    machine's /tmp, /var/tmp and /dev/shm are shared without bubblewrap: there only what this uid
    owns goes, and only when the uid is this sandbox's own.
    """
    for name in os.listdir(scratch):
        if name not in keep:
            _remove(os.path.join(scratch, name))
    if own_uid:
        remove_files_of(os.getuid(), spare=scratch)
    else:
        _remove_ipc_objects(os.getuid())  # private to a bwrap sandbox (its own IPC namespace)


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
    """Kernel and interpreter limits on the CPU time of what runs next.

    The interpreter's limit (ITIMER_PROF, SIGPROF) ends Python code exactly at `seconds`; the
    kernel's (RLIMIT_CPU soft limit, SIGXCPU) follows CPU_GRACE_S later for code that stays in C.
    `wall_s` adds a wall-clock backstop (ITIMER_REAL) against code that sleeps. Only CPU time
    counts otherwise, so a busy machine does not change a verdict. A signal that arrives after
    `disarm()` (or for a limit that is not armed) does nothing: nothing pending can fire later.
    """

    def __init__(self, hard_cpu_s: int):
        self.hard_cpu_s = hard_cpu_s
        self.armed: tuple[str, float, float] | None = None
        self.on_expiry = self._raise_cell_timeout
        signal.signal(signal.SIGPROF, self._expired)
        signal.signal(signal.SIGALRM, self._expired)

    def arm(self, what: str, seconds: float, wall_s: float | None) -> None:
        self.armed = (what, seconds, wall_s or 0.0)
        soft = math.ceil(_cpu_seconds() + seconds) + CPU_GRACE_S
        _limit(resource.RLIMIT_CPU, min(soft, self.hard_cpu_s), self.hard_cpu_s)
        signal.setitimer(signal.ITIMER_PROF, max(seconds, 0.001))
        if wall_s:
            signal.setitimer(signal.ITIMER_REAL, wall_s)

    def disarm(self) -> None:
        self.armed = None
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _expired(self, signum: int, frame: Any) -> None:
        if self.armed is None:
            return
        what, seconds, wall_s = self.armed
        self.disarm()
        if signum == signal.SIGALRM:
            self.on_expiry(f"{what} ran past its time limit ({wall_s:g} s of wall-clock time, "
                           f"for {seconds:g} s of CPU time)")  # fmt: skip
        else:
            self.on_expiry(f"{what} ran past its time limit of {seconds:g} s of CPU time")

    @staticmethod
    def _raise_cell_timeout(message: str) -> None:
        raise CellTimeout(message)


def _enter_private_folder(folder: str, fontlist: dict[str, bytes]) -> None:
    """Work, temporary files, HOME and matplotlib's config all inside the submission's folder."""
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
    """The forked child: limits, notebook, then calls until the grader closes the channel."""
    import nbformat
    import numpy as np

    from autograder.sandbox import boundary, execute, test_cells
    from autograder.testing import applied_context

    os.setpgid(0, 0)
    _die_with_parent()  # the server's own request is not inherited: without it a child outlives it
    request = boundary.read_message(channel, None, boundary.MAX_REQUEST_BYTES)
    limits = request["limits"]
    device = str(request["device"])
    memory = int(limits["memory_mb"]) * 2**20
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
                    # a test cell past its time (CPU, or the grader's wall-clock backstop, which
                    # it sends) is interrupted, as nbgrader interrupts a cell, and the child goes
                    # on to the next test instead of a restart that runs the notebook again; a
                    # cell that survives the interruption still meets the kernel's CPU limit
                    cpu.arm("the test", float(message["cpu_left"]),
                            float(message.get("wall_s") or 0) or None)  # fmt: skip
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


# ------------------------------------------------------------------ the server


def _describe_status(status: int) -> dict:
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


def serve(uid: int | None, own_pid_namespace: bool, keep_read_access: bool,
          preload: list[str]) -> None:  # fmt: skip
    _die_with_parent()
    control = socket.socket(fileno=os.dup(0))  # the grader's end of a socket pair, as stdin
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if not os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
        os.dup2(null, 2)
    os.close(null)
    _drop_privileges(uid, keep_read_access)
    scratch = os.environ.get("TMPDIR") or "/tmp"  # the private /tmp, or the grader's folder
    bound_at_start = frozenset(os.listdir(scratch))  # under bwrap: parents of read-only binds
    fontlist = _read_fontlist()
    # The server's own HOME and matplotlib config, for its imports only: removed with the first
    # submission's files (children get folders of their own, see _enter_private_folder).
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

    own_uid = uid is not None
    control.sendall(boundary.frame({"op": "hello", "pid": os.getpid(), "uid": os.getuid()}))
    while True:
        channel = _receive_channel(control)
        folder = tempfile.mkdtemp(prefix="submission-", dir=scratch)
        child = os.fork()
        if child == 0:
            try:
                control.close()
                os.dup2(channel, CHANNEL_FD)
                os.closerange(CHANNEL_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
                _serve_submission(CHANNEL_FD, folder, fontlist)
            except MemoryError:
                os._exit(EXIT_OUT_OF_MEMORY)
            except BaseException:  # noqa: BLE001 - report as a crash through the exit code
                if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
                    traceback.print_exc()
                os._exit(EXIT_HARNESS_FAILED)
            os._exit(0)
        os.close(channel)
        _, status = os.waitpid(child, 0)
        _end_leftovers(child, own_pid_namespace, own_uid)
        _clear_scratch(scratch, own_uid, bound_at_start)
        control.sendall(boundary.frame({"op": "exited", **_describe_status(status)}))


if __name__ == "__main__":
    uid_arg = sys.argv[1] if len(sys.argv) > 1 else ""
    preload = next((arg.removeprefix("--preload=").split(",") for arg in sys.argv
                    if arg.startswith("--preload=")), [])  # fmt: skip
    serve(int(uid_arg) if uid_arg.isdigit() else None, "--pid-namespace" in sys.argv,
          "--keep-read-access" in sys.argv, preload)
