"""The code that runs inside the sandbox: a fork server for submissions.

Started once per grading worker (`python -I -m autograder.worker`), it drops to an unprivileged
uid, imports NumPy, torch, IPython and matplotlib once, and then, for each submission, forks a
child that starts from that warm, clean copy-on-write state. The child sets its resource limits,
seeds every generator, runs the notebook with `autograder.execute.run_notebook` and serves the
judge's calls (get a name, call, get or set an attribute) until told to end. When the child is
gone the server kills whatever it left behind and reports how it ended, so the judge can tell a
clean end from a crash.

Protocol: length-prefixed JSON on the pipes the server got as stdin/stdout (see
`autograder.boundary`); the student's own stdout and stderr go to /dev/null or the bounded
buffer of `run_notebook`, never to the protocol pipe.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
import traceback
from functools import cache
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522


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
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.01)


EXIT_OUT_OF_MEMORY = 71  # the child's exit code when the harness itself ran out of memory


class CellTimeout(Exception):
    pass


def _limit(kind: int, value: int | None) -> None:
    import resource

    if value is None:
        return
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        pass


def _vm_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _data_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


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


def _serve_submission(request: dict, fd_in: int, fd_out: int) -> None:
    """The forked child: limits, notebook, then calls until "end". Never returns."""
    import resource

    import nbformat
    import numpy as np

    from autograder import boundary, execute

    os.setpgid(0, 0)
    _die_with_parent()  # the server's own request is not inherited: without it a child outlives it
    limits = request["limits"]
    memory = int(limits["memory_mb"]) * 2**20
    if str(request["device"]).startswith("cuda"):
        # CUDA reserves tens of GB of address space up front: bound private data instead
        _limit(resource.RLIMIT_DATA, _data_bytes() + memory)
    else:
        _limit(resource.RLIMIT_AS, _vm_bytes() + memory)
    _limit(resource.RLIMIT_CPU, int(limits["cpu_s"]))
    _limit(resource.RLIMIT_FSIZE, int(limits["max_output_bytes"]))
    _limit(resource.RLIMIT_NPROC, int(limits["max_processes"]))
    _limit(resource.RLIMIT_CORE, 0)
    workdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"work-{os.getpid()}")
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    _prepare_determinism(int(request["seed"]), str(request["device"]))

    cell_timeout = float(limits["cell_timeout_s"])

    def on_alarm(signum: int, frame: Any) -> None:
        raise CellTimeout(f"the cell ran past its time limit of {cell_timeout:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    original_cells = execute.code_cells

    def timed_cells(nb: Any, skip_tags: tuple[str, ...] = ()):
        for index, source in original_cells(nb, skip_tags):
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)
            try:
                yield index, source
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)

    execute.code_cells = timed_cells
    nb = nbformat.from_dict(request["notebook"])
    started = time.perf_counter()
    run = execute.run_notebook(nb, tuple(request["skip_tags"]), cwd=None)
    student_time = time.perf_counter() - started
    namespace = run.namespace
    handles = boundary.HandleTable()
    boundary.write_message(fd_out, {
        "op": "ready", "seconds": student_time, "output": run.output[-4000:],
        "cells": [{"index": c.index, "error": c.error, "notes": c.notes} for c in run.cells],
    })  # fmt: skip

    def resolve(data: dict) -> Any:
        return handles.get(data["id"])

    while True:
        message = boundary.read_message(fd_in)
        op = message.get("op") if isinstance(message, dict) else None
        if op == "end":
            os._exit(0)
        started = time.perf_counter()
        try:
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
            else:
                reply = {"op": "error", "type": "ProtocolError", "message": f"unknown op {op!r}"}
        except BaseException as error:  # noqa: BLE001 - SystemExit from student code included
            if isinstance(error, MemoryError):  # its frames hold what it allocated: free it first
                traceback.clear_frames(error.__traceback__)
            try:
                text = str(error)[:500]
            except BaseException:  # noqa: BLE001 - a hostile __str__
                text = ""
            name = "MemoryError" if isinstance(error, MemoryError) else type(error).__name__
            reply = {"op": "error", "type": name[:80], "message": text}
        reply["seconds"] = time.perf_counter() - started
        try:
            boundary.write_message(fd_out, reply)
        except (ValueError, TypeError, boundary.BoundaryError) as error:
            boundary.write_message(fd_out, {
                "op": "error", "type": "BoundaryError", "message": str(error)[:300],
                "seconds": time.perf_counter() - started,
            })  # fmt: skip


def _describe_status(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status), "code": None}
    return {"signal": None, "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}


def _end_leftovers(child: int, own_pid_namespace: bool, own_uid: bool) -> None:
    """Kill whatever the finished `child` left running, as widely as this sandbox allows."""
    if own_pid_namespace:
        _kill_leftovers()
        return
    # with a uid of our own, kill(-1) reaches every process of it (also one that left the child's
    # process group with setsid) and never the grader's; otherwise the child's process group
    try:
        os.kill(-1 if own_uid else -child, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """Without bwrap's --die-with-parent: ask the kernel for SIGKILL when the grader dies."""
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def serve(uid: int | None, own_pid_namespace: bool, keep_read_access: bool) -> None:
    _die_with_parent()
    fd_in, fd_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if not os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
        os.dup2(null, 2)
    _drop_privileges(uid, keep_read_access)
    mpl_cache = "/opt/mplcache"
    config_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "mpl")
    os.environ["MPLCONFIGDIR"] = config_dir
    os.makedirs(config_dir, exist_ok=True)
    if os.path.isdir(mpl_cache):
        for name in os.listdir(mpl_cache):
            if name.startswith("fontlist"):
                with open(os.path.join(mpl_cache, name), "rb") as src:
                    with open(os.path.join(config_dir, name), "wb") as dst:
                        dst.write(src.read())
    import IPython.core.interactiveshell  # noqa: F401 - paid once here, not per submission
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import nbformat  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import autograder.execute  # noqa: F401
    from autograder import boundary

    boundary.write_message(fd_out, {"op": "hello", "pid": os.getpid(), "uid": os.getuid()})
    while True:
        try:
            request = boundary.read_message(fd_in)
        except EOFError:
            os._exit(0)
        if not isinstance(request, dict) or request.get("op") != "start":
            boundary.write_message(fd_out, {"op": "exited", "signal": None, "code": None,
                                            "problem": "expected a start message"})  # fmt: skip
            continue
        child = os.fork()
        if child == 0:
            try:
                _serve_submission(request, fd_in, fd_out)
            except MemoryError:
                os._exit(EXIT_OUT_OF_MEMORY)
            except BaseException:  # noqa: BLE001 - report as a crash through the exit code
                if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
                    traceback.print_exc()
                os._exit(70)
            os._exit(0)
        _, status = os.waitpid(child, 0)
        _end_leftovers(child, own_pid_namespace, own_uid=uid is not None)
        boundary.write_message(fd_out, {"op": "exited", **_describe_status(status)})


if __name__ == "__main__":
    uid_arg = sys.argv[1] if len(sys.argv) > 1 else ""
    serve(int(uid_arg) if uid_arg.isdigit() else None, "--pid-namespace" in sys.argv,
          "--keep-read-access" in sys.argv)
