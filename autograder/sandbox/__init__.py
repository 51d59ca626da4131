"""Run student code in a separate, confined process: the trusted side of the sandbox.

`Sandbox` starts `autograder.sandbox.worker` (a fork server that has already imported NumPy,
torch, IPython, matplotlib and the lab's own imports) under Linux bubblewrap when `bwrap` works
here (`bwrap_works`):

- its own pid, network (none), IPC and UTS namespaces, dying with the grader;
- a read-only view of the system (/usr, /etc), the Python installation and the virtual
  environment, plus the `autograder` and `courselib` packages, and nothing else of the course:
  no tests/, solutions/, source/, gradebook, or other submissions (the notebook's code is sent
  over a socket; the files never enter);
- a scrubbed environment, and only the capabilities the server needs to confine its children
  (`confine.SERVER_CAPABILITIES`); an unprivileged uid leased for this sandbox alone (see
  `lease_sandbox_uid`) for the children, so RLIMIT_NPROC holds and nothing else runs as it.

What is reset per submission, and by whom (nothing crosses from one submission to the next):

- **Under bubblewrap, by the kernel.** Each submission's child runs in namespaces of its own
  (pid, mount, IPC, UTS, network), with a fresh size-bounded tmpfs on /tmp and /dev/shm and a
  /proc that shows only its own processes (`worker.Namespaces`). When its process ends, the
  namespace's init ends, and the kernel kills every other process of the namespace and frees its
  files and IPC objects: nothing the child did to permissions, owners or ids (a folder locked
  0500, a full /tmp, a segment given to another owner, a daemon) survives it. Its parent is that
  init, which it cannot signal; the server is in another pid namespace.
- **With the limits only, by root.** A root grader's server stays root and runs each child as
  the leased uid, in a folder of its own that the server made (`worker.SharedMachine`); after it,
  the server kills every process of the uid until none is left (`kill(-1)` as the uid, repeated)
  and removes, as root, what the uid left in the machine's shared folders (/tmp, /var/tmp,
  /dev/shm, /run/lock, /dev/mqueue and the world-writable folders inside them) and its System V
  IPC objects, by owner and by creator (`cleanup`). Where the Python installation is root's
  alone, the sandbox runs from a copy every uid can read (`readable_python`): no child ever holds
  a capability that reads the host's files.
- **In both**, the child has no capability left, cannot gain one (no_new_privs: setuid programs
  included), and the kernel's keyring calls are refused (`confine.deny_keyrings`: a key outlives
  every process of its uid). After each child the server checks that the state is clean (no
  process of the submission, no key added, no file or IPC object of the uid left) and says so in
  its report; a sandbox that is not clean is replaced (`read_exit`), never reused.
- **Each submission's channel.** Each submission talks to the grader over a socket pair made for
  it alone: the grader passes one end to the server with the "start" frame (SCM_RIGHTS); the
  child keeps only that descriptor (every other one, the server's control socket included, is
  closed before any student code runs), and the server closes its copy. The server is
  non-dumpable and never reads a child's messages; it never runs student code.
- **Memory and processes.** Each submission runs in a fresh child forked from the clean server
  (copy-on-write: nothing an earlier child changed is visible), with hard limits (it cannot raise
  them) on memory (RLIMIT_AS; on CUDA private data plus a share of the GPU's memory), CPU time,
  file size and processes.
- **Protocol.** Every frame from the sandbox is hostile until validated: its size is checked from
  its header against the lab's `max_reply_mb`, its item count before it is parsed, its fields
  against a schema, its request id against the request. Anything unexpected (an undecodable or
  oversized reply, an unknown or out-of-order op, a message nobody asked for, a wrong id, a
  malformed report or exit status) kills the whole sandbox and fails the current test as
  `crashed`; the next test starts a fresh sandbox. A stale message is never read as an answer.

What each mode does not isolate: with the limits only, the child shares the machine's network
and can read every file that any uid may read (keep a course folder's parents at mode 0700), and
without root (one uid for all) it can also signal the server and the grader's other processes of
that uid, and what it leaves in the machine's shared folders and IPC objects is not removed
(only its own folder, and its processes through the server's subtree). Reports say which mode
graded each submission.

Time limits count CPU time, so a busy machine does not change a verdict: each cell has
`cell_timeout_s` of CPU time, the notebook `notebook_timeout_s`, each test `test_timeout_s` (all
its calls together), enforced inside the child (ITIMER_PROF, then RLIMIT_CPU for code stuck in C)
and again by the grader from outside (`monitor`: the kernel's own accounting of the submission's
processes, read every half second while it waits; a child that switches off its own timers
still meets them). The backstop against code that sleeps counts only the time in which the
submission neither ran nor waited to run: `wall_factor` times each limit.

Faults: a child says "begun" before any student code runs. A child that ends before that, or a
server whose own test child (its canary) fails, is the grader's failure (`SandboxUnavailable`,
an `autograder.core.errors.GraderFault`): never a student's grade.

Crash policy: a test that crashes the sandbox or runs out of time fails ("crashed" /
"timeout"); the next test runs in a fresh sandbox that executes the notebook again, up to
`MAX_RESTARTS` times per submission, after which the remaining tests are marked failed with the
same reason. A notebook that itself crashes or times out is not retried.
"""

from __future__ import annotations

import fcntl
import grp
import importlib.util
import math
import os
import pwd
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from autograder.core.config import Lab
from autograder.core.errors import GraderFault, UserError
from autograder.core.notebook import MODULE_NAME
from autograder.core.processes import descendants, parents
from autograder.sandbox import boundary, test_cells
from autograder.sandbox.cleanup import (
    kill_until_gone,
    processes_of,
    remove_files_of,
    remove_tree,
    status_fields,
)
from autograder.sandbox.confine import SERVER_CAPABILITIES
from autograder.sandbox.monitor import Window, namespace_depth, process_cpu_seconds
from autograder.sandbox.worker import CPU_GRACE_S

MAX_RESTARTS = 3
START_TIMEOUT_S = 120.0
EXIT_WAIT_S = 30.0  # how long a finished child's "exited" report may take (leftovers ended)
TMP_BYTES = 512 * 2**20
DEFAULT_MAX_PROCESSES = 64
DEFAULT_MAX_OUTPUT_BYTES = 64 * 2**20
# Sandbox uids: a range that no account uses (systemd leaves 0x70000000-0x7FFFFFFF unassigned).
UID_RANGE_ENV = "AUTOGRADER_SANDBOX_UIDS"
DEFAULT_UID_RANGE = (1_900_000_000, 1_900_065_535)
# Exit codes of a child that enforced a limit itself (see autograder.sandbox.worker)
EXIT_HARNESS_FAILED, EXIT_OUT_OF_MEMORY, EXIT_NOTEBOOK_TIME, EXIT_TEST_TIME = 70, 71, 72, 73
SIGNAL_WORDS = {
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGBUS: "a bus error",
    signal.SIGABRT: "an abort",
    signal.SIGFPE: "a fatal arithmetic error",
    signal.SIGILL: "an illegal instruction",
    signal.SIGKILL: "a kill signal (SIGKILL)",
    signal.SIGTERM: "a termination signal (SIGTERM)",
}


class SandboxError(UserError):
    """The sandbox stopped or misbehaved; `kind` is the test outcome, `message` safe to show."""

    kind = "crashed"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SandboxCrashed(SandboxError):
    kind = "crashed"


class SandboxTimeout(SandboxError):
    kind = "timeout"


class SandboxLimit(SandboxError):
    """The student's code hit a limit the sandbox survives (memory): an error, not a crash."""

    kind = "error"


class SandboxUnavailable(SandboxError, GraderFault):
    """The sandbox could not start, or could not start a submission's child: the grader's fault,
    never the student's (see `autograder.core.errors.GraderFault`)."""

    kind = "fault"


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_s: int
    cell_timeout_s: float
    notebook_timeout_s: float
    test_timeout_s: float
    max_processes: int = DEFAULT_MAX_PROCESSES
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    wall_factor: float = 2.0
    max_reply_bytes: int = boundary.DEFAULT_MAX_REPLY_BYTES

    @classmethod
    def of(cls, lab: Lab) -> Limits:
        return cls(
            memory_mb=lab.memory_mb,
            cpu_s=int(lab.notebook_timeout_s + 20 * lab.test_timeout_s),
            cell_timeout_s=lab.cell_timeout_s,
            notebook_timeout_s=lab.notebook_timeout_s,
            test_timeout_s=lab.test_timeout_s,
            wall_factor=lab.wall_factor,
            max_reply_bytes=int(lab.max_reply_mb * 2**20),
        )

    def idle_limit_s(self, cpu_s: float) -> float:
        """The backstop of a limit of `cpu_s` seconds of CPU time: how long the submission may
        spend neither running nor waiting to run (see `autograder.sandbox.monitor`)."""
        return cpu_s * self.wall_factor


# ------------------------------------------------------------------ the sandbox's own uid


@dataclass
class UidLease:
    """A uid that this grading process alone runs sandboxes as, held by an flock."""

    uid: int
    lock: int  # the open, locked file; closing it (or our exit) ends the lease

    def release(self) -> None:
        try:
            os.close(self.lock)
        except OSError:
            pass


def sandbox_uid_range() -> tuple[int, int]:
    text = os.environ.get(UID_RANGE_ENV, "")
    if not text:
        return DEFAULT_UID_RANGE
    try:
        first, last = (int(part) for part in text.split("-"))
    except ValueError:
        raise SandboxUnavailable(f"${UID_RANGE_ENV}={text!r}: expected FIRST-LAST") from None
    if not 0 < first <= last < 2**31:
        raise SandboxUnavailable(f"${UID_RANGE_ENV}={text!r}: expected 0 < FIRST <= LAST < 2^31")
    return first, last


def _living(pid: int) -> bool:
    state = status_fields(pid).get("State", "")
    return bool(state) and not state.startswith("Z")


def _process_uids() -> set[int]:
    """The uids that living processes run as (a zombie can do nothing more)."""
    uids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = status_fields(int(entry))
            uid = fields.get("Uid", "").split("\t")[0]
            if uid.isdigit() and not fields.get("State", "").startswith("Z"):
                uids.add(int(uid))
    return uids


def lease_sandbox_uid() -> UidLease:
    """A uid from the sandbox range that no account, no group and no running process uses, locked
    for this process, so that killing "every process of the uid" only ever kills our own."""
    first, last = sandbox_uid_range()
    for kind, entries in (("account", pwd.getpwall()), ("group", grp.getgrall())):
        for entry in entries:
            number = entry.pw_uid if kind == "account" else entry.gr_gid
            if first <= number <= last:
                name = entry.pw_name if kind == "account" else entry.gr_name
                raise SandboxUnavailable(
                    f"the sandbox uids {first}-{last} include the {kind} {name!r} ({number}); "
                    f"set ${UID_RANGE_ENV}=FIRST-LAST to a range that no account or group uses"
                )
    folder = Path("/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir())
    folder = folder / "autograder-sandbox-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    busy = _process_uids()
    size = last - first + 1
    offset = random.randrange(size)
    for step in range(min(size, 4096)):
        uid = first + (offset + step) % size
        if uid in busy:
            continue
        lock = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        if uid in _process_uids():  # taken between our look and the lock by a stale sandbox
            os.close(lock)
            continue
        remove_files_of(uid)  # what a sandbox of a grader that died left under this uid
        return UidLease(uid, lock)
    raise SandboxUnavailable(f"no free sandbox uid in {first}-{last}")


# ------------------------------------------------------------------ starting the server


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve()
    return Path(spec.origin).resolve().parent if spec.origin else None


def _symlink_hops(path: Path) -> list[Path]:
    """`path` and every path its symlinks lead through, unresolved and resolved."""
    hops, seen = [Path(os.path.abspath(path))], set()
    while hops[-1].is_symlink() and hops[-1] not in seen and len(hops) < 40:
        seen.add(hops[-1])
        hops.append(Path(os.path.abspath(hops[-1].parent / os.readlink(hops[-1]))))
    return [*hops, path.resolve()]


@cache
def interpreter_paths() -> tuple[Path, ...]:
    """The folders and files the sandbox's interpreter reads, under the names it reads them by.

    A virtual environment reached through a symlink, a Python home that is a symlink (pyenv,
    conda) or site-packages added by a .pth file are read under their unresolved names (the
    venv's `python` links to `home`, pyvenv.cfg names it): each is bound under both names.
    Folders that a .pth adds from a checkout (an editable install) are not bound whole, since a
    checkout may hold a course's tests/: only its `autograder` and `courselib` packages are.
    """
    prefixes = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    config = Path(sys.prefix) / "pyvenv.cfg"
    if config.is_file():
        for line in config.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                prefixes.add(Path(value.strip()).parent)
    paths: list[Path] = []
    for prefix in sorted(prefixes):
        paths += _symlink_hops(prefix)
    paths += _symlink_hops(Path(sys.executable))
    for entry in sys.path:
        if entry and Path(entry).is_dir() and Path(entry).name in ("site-packages",
                                                                   "dist-packages"):
            paths += _symlink_hops(Path(entry))
    paths += [path for path in (_package_dir("autograder"), _package_dir("courselib")) if path]
    # folders before the files and folders inside them: one bind covers what lies below
    return tuple(sorted(dict.fromkeys(paths), key=lambda path: len(path.parts)))


def gpu_index(slot: int) -> int:
    """The GPU a sandbox of `slot` gets: one each, round robin over the machine's GPUs."""
    count = len([node for node in Path("/dev").glob("nvidia[0-9]*")])
    return slot % count if count else 0


def _bwrap_command(device: str, slot: int = 0) -> list[str]:
    command = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session"]  # fmt: skip
    if os.getuid() != 0:
        command.append("--unshare-user")
    # The server keeps what it needs to give each submission namespaces of its own and to drop
    # it to the sandbox uid (confine.SERVER_CAPABILITIES), nothing else.
    command.extend(["--cap-drop", "ALL"])
    for capability in SERVER_CAPABILITIES:
        command.extend(["--cap-add", capability])
    # The private /tmp comes first: a course or virtual environment that itself lives under /tmp
    # is then bound on top of it instead of being hidden by it.
    command.extend(["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"])
    made: set[str] = {"/", "/tmp"}

    def parents(path: Path) -> None:
        for parent in reversed(path.parents):
            text = str(parent)
            if text not in made and text not in ("/usr", "/etc"):
                made.add(text)
                command.extend(["--perms", "0755", "--dir", text])

    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            command.extend(["--symlink", os.readlink(top), top])
        elif os.path.isdir(top):
            command.extend(["--ro-bind", top, top])
    command.extend(["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"])
    bound: list[Path] = []
    for path in interpreter_paths():
        if str(path).startswith(("/usr/", "/etc/")) or any(
            path == done or done in path.parents for done in bound
        ):
            continue
        parents(path)
        made.add(str(path))
        bound.append(path)
        command.extend(["--ro-bind", str(path), str(path)])
    mpl_cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    if mpl_cache.is_dir():
        command.extend(["--perms", "0755", "--dir", "/opt", "--ro-bind", str(mpl_cache),
                        "/opt/mplcache"])  # fmt: skip
    command.extend(["--dev", "/dev", "--proc", "/proc", "--chdir", "/tmp"])
    if device.startswith("cuda"):
        # the driver's control nodes and this sandbox's GPU only (CUDA_VISIBLE_DEVICES matches)
        nodes = [f"/dev/nvidia{gpu_index(slot)}", "/dev/nvidiactl", "/dev/nvidia-uvm",
                 "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]  # fmt: skip
        for node in nodes:
            command.extend(["--dev-bind-try", node, node])
        command.extend(["--ro-bind-try", "/sys", "/sys",
                        "--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia"])  # fmt: skip
    return command


# What every submission's child does under bubblewrap (see autograder.sandbox.worker.Namespaces)
NAMESPACE_PROBE = """
import os
from autograder.sandbox import confine
confine.new_namespaces()
child = os.fork()
if child == 0:
    confine.private_filesystems(2**20, 2**20)
    confine.loopback_up()
    os._exit(0)
print("ok" if os.waitpid(child, 0)[1] == 0 else "no")
"""


@cache
def bwrap_works() -> bool:
    """True when bubblewrap is installed and can build our sandbox on this machine, namespaces of
    each submission's own included."""
    if not shutil.which("bwrap"):
        return False
    try:
        done = subprocess.run(
            [*_bwrap_command("cpu"), sys.executable, "-I", "-c", NAMESPACE_PROBE],
            capture_output=True, timeout=60, text=True,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        _debug(f"bwrap does not work here ({error}); the sandbox runs with limits only")
        return False
    if done.returncode == 0 and done.stdout.strip() == "ok":
        return True
    _debug(f"bwrap does not work here ({done.stderr.strip()[-500:] or 'no message'}); the "
           "sandbox runs with limits only")
    return False


def _debug(line: str) -> None:
    if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
        print(f"autograder sandbox: {line}", file=sys.stderr, flush=True)


def isolation() -> str:
    """ "bwrap" or "limits only" (no bubblewrap: resource limits without filesystem isolation)."""
    if os.environ.get("AUTOGRADER_NO_BWRAP"):
        return "limits only"
    return "bwrap" if bwrap_works() else "limits only"


def _scrubbed_env(device: str, slot: int) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "COURSELIB_DEVICE": device,
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    if device.startswith("cuda"):
        env["CUDA_VISIBLE_DEVICES"] = str(gpu_index(slot))
    if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
        env["AUTOGRADER_SANDBOX_DEBUG"] = "1"
    return env


def _process_count(uid: int) -> int:
    """Processes and threads of `uid`: what RLIMIT_NPROC counts."""
    count = 0
    for pid in processes_of(uid):
        try:
            count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return count


def describe_exit(message: dict, limits: Limits) -> tuple[str, str]:
    """(outcome, message) for a child that ended with the reported signal or exit code."""
    sig, code = message.get("signal"), message.get("code")
    if sig == signal.SIGXCPU:
        return "timeout", "the sandbox stopped your code: it ran past its CPU time limit"
    if sig == signal.SIGXFSZ:
        return "crashed", (f"the sandbox stopped: file size limit of "
                           f"{limits.max_output_bytes // 2**20} MB exceeded")  # fmt: skip
    if sig is not None:
        if sig == signal.SIGKILL:
            return "crashed", "the sandbox stopped: the process was killed (SIGKILL)"
        try:
            words = SIGNAL_WORDS.get(signal.Signals(sig), f"signal {signal.Signals(sig).name}")
        except ValueError:
            words = f"signal {sig}"
        return "crashed", f"the sandbox stopped: the process died of {words}"
    if code == EXIT_OUT_OF_MEMORY:
        return "crashed", f"the sandbox stopped: memory limit of {limits.memory_mb} MB exceeded"
    if code == EXIT_NOTEBOOK_TIME:
        return "timeout", (f"the notebook ran past its time limit of {limits.notebook_timeout_s:g} "
                           "s of CPU time")  # fmt: skip
    if code == EXIT_TEST_TIME:
        return "timeout", (f"the test ran past its time limit of {limits.test_timeout_s:g} s of "
                           "CPU time")  # fmt: skip
    if code is not None:
        return "crashed", (f"the sandbox stopped: your code ended the Python process (exit "
                           f"code {code}), for example with os._exit() or by killing itself")
    return "crashed", "the sandbox stopped for an unknown reason"


# ------------------------------------------------------------------ validating what comes back


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _is_text(value: Any, limit: int, optional: bool = False) -> bool:
    return (optional and value is None) or (type(value) is str and len(value) <= limit)


def _valid_cell(cell: Any) -> bool:
    return (
        type(cell) is dict and set(cell) == {"index", "grade_id", "error", "notes"}
        and type(cell["index"]) is int and 0 <= cell["index"] < 1_000_000
        and _is_text(cell["grade_id"], 200, optional=True)
        and _is_text(cell["error"], 1000, optional=True)
        and type(cell["notes"]) is list and len(cell["notes"]) <= 100
        and all(_is_text(note, 500) for note in cell["notes"])
    )  # fmt: skip


def valid_ready(message: Any) -> bool:
    """The report of a notebook run: {"op": "ready", "seconds", "cpu", "output", "cells"}."""
    return (
        type(message) is dict and set(message) == {"op", "seconds", "cpu", "output", "cells"}
        and message["op"] == "ready" and _is_number(message["seconds"])
        and _is_number(message["cpu"]) and _is_text(message["output"], 8000)
        and type(message["cells"]) is list and len(message["cells"]) <= 10_000
        and all(_valid_cell(cell) for cell in message["cells"])
    )  # fmt: skip


def _valid_warnings(caught: Any) -> bool:
    """Warnings a call emitted (see `autograder.testing.applied_context`)."""
    return (
        type(caught) is list and 0 < len(caught) <= 20
        and all(type(item) is dict and set(item) == {"category", "message", "lineno"}
                and _is_text(item["category"], 200) and _is_text(item["message"], 500)
                and type(item["lineno"]) is int for item in caught)
    )  # fmt: skip


def valid_reply(message: Any, request_id: int) -> bool:
    """The answer to request `request_id`: a value (or "missing"), a test cell's result (see
    `autograder.sandbox.test_cells`), or the error it raised."""
    if type(message) is not dict or type(message.get("id")) is not int:
        return False
    if message["id"] != request_id:
        return False
    if not (_is_number(message.get("seconds")) and _is_number(message.get("cpu"))):
        return False
    if message.get("op") == "reply":
        if "warnings" in message and not _valid_warnings(message["warnings"]):
            return False
        keys = set(message) - {"op", "id", "seconds", "cpu", "warnings"}
        return (keys == {"value"} or (keys == {"missing"} and message["missing"] is True)
                or (keys == {"cell"} and test_cells.valid_result(message["cell"])))
    if message.get("op") == "error":
        keys = {"op", "id", "seconds", "cpu", "type", "message"}
        return (set(message) == keys and _is_text(message["type"], 200)
                and _is_text(message["message"], 2000))  # fmt: skip
    return False


def valid_exit(message: Any) -> bool:
    """How a child ended, and whether it left the sandbox clean:
    {"op": "exited", "signal": int | None, "code": int | None, "clean": bool}."""
    return (
        type(message) is dict and set(message) == {"op", "signal", "code", "clean"}
        and message["op"] == "exited" and type(message["clean"]) is bool
        and all(message[key] is None or type(message[key]) is int for key in ("signal", "code"))
    )  # fmt: skip


# ------------------------------------------------------------------ the sandbox


class Sandbox:
    """One long-lived sandboxed fork server; `open()` runs a submission in a fresh child."""

    def __init__(self, slot: int = 0, device: str = "cpu", mode: str | None = None,
                 preload: tuple[str, ...] = ()):  # fmt: skip
        self.slot = slot
        self.device = device
        # modules the server imports before forking children (the lab's own imports)
        self.preload = tuple(name for name in preload if MODULE_NAME.fullmatch(name))
        self.mode = mode or isolation()
        self.process: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.session: Session | None = None
        self.lease: UidLease | None = None
        self.uid = os.getuid()
        self.starts = 0
        self.ready = False  # the server said hello
        self.scratch: str | None = None
        self.command: list[str] = []
        self.debug_log: str | None = None  # AUTOGRADER_SANDBOX_DEBUG: the server's stderr

    # -- the server process
    def start(self) -> None:
        """Start the server and wait until it is ready (its imports done)."""
        if self.process is None:
            self.launch()
        self._await_hello()

    def launch(self) -> None:
        """Start the server without waiting for it: its imports (a few seconds) can then run
        while the grader prepares the reference (see `autograder.judging.judge.prepare`)."""
        from autograder.sandbox.readable_python import interpreter, library_path

        if os.getuid() == 0 and self.lease is None:
            self.lease = lease_sandbox_uid()
        uid = self.lease.uid if self.lease else None
        # With the limits only, a root grader's children run as the sandbox uid on the machine
        # itself: they need a Python that uid can read (never a capability that reads the host).
        python = interpreter() if self.mode != "bwrap" and uid is not None else sys.executable
        worker = [python, "-I", "-m", "autograder.sandbox.worker", str(uid or ""),
                  "--mode=" + ("namespaces" if self.mode == "bwrap" else "shared")]  # fmt: skip
        if self.preload:
            worker.append("--preload=" + ",".join(self.preload))
        command = [*_bwrap_command(self.device, self.slot), *worker] if self.mode == "bwrap" \
            else worker
        env = _scrubbed_env(self.device, self.slot)
        if library_path(python):
            env["LD_LIBRARY_PATH"] = library_path(python)
        if self.mode != "bwrap":
            # No private /tmp: a scratch folder of the server's, removed at kill. A root grader's
            # children cannot change it (root's, mode 0711); each gets a folder of its own there.
            self.scratch = tempfile.mkdtemp(prefix="autograder-sandbox-")
            os.chmod(self.scratch, 0o711 if uid is not None else 0o700)
            env.update(HOME=self.scratch, TMPDIR=self.scratch)
        stderr: Any = subprocess.DEVNULL
        self.command = command
        if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
            # bwrap's own complaints and the server's go to a file whose tail a failed start
            # quotes: a grader's stderr is often captured (pytest, a worker pool) and lost
            log = tempfile.NamedTemporaryFile(prefix="autograder-sandbox-", suffix=".log",
                                              delete=False)  # fmt: skip
            self.debug_log, stderr = log.name, log
            print(f"autograder sandbox ({self.mode}): {shlex.join(command)}\n"
                  f"  its output: {log.name}", file=sys.stderr, flush=True)  # fmt: skip
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            self.process = subprocess.Popen(
                command, stdin=theirs, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                start_new_session=True, cwd=self.scratch or "/tmp",
            )  # fmt: skip
        if stderr is not subprocess.DEVNULL:
            stderr.close()
        ours.setblocking(False)
        self.control = ours
        self.starts += 1
        self.ready = False
        self.uid = uid if uid is not None else os.getuid()

    def _await_hello(self) -> None:
        assert self.control is not None
        try:
            hello = boundary.read_message(self.control.fileno(),
                                          time.monotonic() + START_TIMEOUT_S, 4096)  # fmt: skip
        except (TimeoutError, EOFError, boundary.BoundaryError):
            self.kill()
            raise SandboxUnavailable(self._why_not_started()) from None
        if type(hello) is dict and hello.get("op") == "broken" and _is_text(hello.get("why"), 300):
            self.kill()
            raise SandboxUnavailable(f"the sandbox ({self.mode}) cannot confine a submission "
                                     f"here: {hello['why']}")  # fmt: skip
        if not (type(hello) is dict and hello.get("op") == "hello"):
            self.kill()
            raise SandboxUnavailable("the sandbox sent a malformed greeting")
        self.ready = True
        self.depth = namespace_depth(self.process.pid) if self.process else 0

    def _why_not_started(self) -> str:
        if not self.debug_log:
            return (f"the sandbox ({self.mode}) did not start; set AUTOGRADER_SANDBOX_DEBUG=1 "
                    "to see why")  # fmt: skip
        try:
            said = Path(self.debug_log).read_text(errors="replace").strip().splitlines()
        except OSError:
            said = []
        return (f"the sandbox ({self.mode}) did not start: "
                f"{' | '.join(said[-5:]) or 'it printed nothing'}; "
                f"command: {shlex.join(self.command)}")  # fmt: skip

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """End the server, its children and everything of its uid; the next open() starts anew."""
        if self.session is not None:
            self.session.end("the sandbox was stopped")
        if self.process is None:
            return
        # Everything below the server first (with the limits only, a submission's child has a
        # process group of its own; under bubblewrap the pid namespace goes with its init).
        below = descendants(self.process.pid)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        kill_until_gone(lambda: [pid for pid in below if _living(pid)])
        if self.mode != "bwrap" and self.uid != os.getuid():
            # no pid namespace to take them down: kill every process of the leased uid (it runs
            # nothing but this sandbox's children) until none is left, and remove, as root, what
            # they left in the machine's shared folders (a stopped server cannot)
            kill_until_gone(lambda: processes_of(self.uid, living_only=True))
            remove_files_of(self.uid, spare=self.scratch)
        if self.control is not None:
            self.control.close()
            self.control = None
        self.process.wait()
        self.process = None
        self.ready = False
        if self.scratch:
            remove_tree(self.scratch)
            self.scratch = None

    def close(self) -> None:
        self.kill()
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def read_exit(self) -> dict:
        """The server's report on the child that just ended; anything else ends the sandbox, and
        so does a report that the child left something behind (the sandbox is replaced, never
        reused)."""
        assert self.control is not None
        try:
            message = boundary.read_message(self.control.fileno(),
                                            time.monotonic() + EXIT_WAIT_S, 4096)  # fmt: skip
        except (TimeoutError, EOFError, boundary.BoundaryError):
            message = None
        if not valid_exit(message):
            self.kill()
            raise SandboxCrashed("the sandbox stopped: its process ended")
        if not message["clean"]:
            self.kill()
        return message

    # -- the current submission's processes, as this (trusted) side sees them

    def submission_processes(self) -> list[int]:
        """The processes of the submission the sandbox is running: below the server, and under
        bubblewrap in the submission's own pid namespace."""
        if self.process is None:
            return []
        below = descendants(self.process.pid, parents(living_only=False))
        if self.mode != "bwrap":
            return below
        return [pid for pid in below if namespace_depth(pid) >= self.depth + 2]

    def submission_main(self) -> int | None:
        """The submission's own process (the one that serves the judge's calls)."""
        if self.process is None:
            return None
        if self.mode != "bwrap":
            table = parents()
            children = [pid for pid, parent in table.items() if parent == self.process.pid]
            return min(children) if len(children) == 1 else None
        for pid in self.submission_processes():  # pid 2 of its namespace (its init is pid 1)
            if status_fields(pid).get("NSpid", "").split()[-1:] == ["2"]:
                return pid
        return None

    # -- submissions
    def open(
        self, notebook: dict, skip_tags: tuple[str, ...], seed: int, limits: Limits
    ) -> Session:
        """Execute `notebook` (an nbformat dict) in a fresh child; the session serves calls."""
        if self.session is not None:
            self.session.close()
        if self.alive() and self.ready and boundary.pending(self.control.fileno()):
            self.kill()  # the server said something nobody asked for: start anew
        if not (self.alive() and self.ready):
            if not self.alive():
                self.kill()
            self.start()
        if self.uid == os.getuid():  # no uid of its own: count what the uid already runs
            max_processes = _process_count(self.uid) + limits.max_processes
        else:
            max_processes = limits.max_processes
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            try:
                socket.send_fds(self.control, [boundary.frame({"op": "start"})], [theirs.fileno()])
            except OSError:
                ours.close()
                self.kill()
                raise SandboxUnavailable("the sandbox stopped: its control socket closed") from None
        ours.setblocking(False)
        session = Session(self, ours, limits)
        self.session = session
        session.send({
            "op": "start", "notebook": notebook, "skip_tags": list(skip_tags), "seed": seed,
            "device": self.device,
            "limits": {"memory_mb": limits.memory_mb, "cpu_s": limits.cpu_s,
                       "cell_timeout_s": limits.cell_timeout_s,
                       "notebook_timeout_s": limits.notebook_timeout_s,
                       "wall_factor": limits.wall_factor,
                       "max_output_bytes": limits.max_output_bytes,
                       "max_processes": max_processes},
        }, time.monotonic() + START_TIMEOUT_S)  # fmt: skip
        session.await_begun()
        ready = session.receive(session.window(limits.notebook_timeout_s), "the notebook",
                                limits.notebook_timeout_s)  # fmt: skip
        if not valid_ready(ready):
            session.fail("the sandbox sent a malformed report of the notebook run")
        session.report = ready
        session.student_seconds += ready["seconds"]
        return session


class Session:
    """One submission running in a sandbox child, over its own channel."""

    def __init__(self, sandbox: Sandbox, channel: socket.socket, limits: Limits):
        self.sandbox = sandbox
        self.channel: socket.socket | None = channel
        self.limits = limits
        self.dead: str | None = None
        self.dead_kind = "crashed"
        self.report: dict[str, Any] = {}
        self.student_seconds = 0.0
        self.last_id = 0
        self.main_pid: int | None = None

    def end(self, reason: str, kind: str = "crashed") -> None:
        """Mark the session over and close its channel (the child sees the end and exits)."""
        self.dead = self.dead or reason
        self.dead_kind = kind if self.dead == reason else self.dead_kind
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.sandbox.session is self:
            self.sandbox.session = None

    def fail(self, reason: str, kind: str = "crashed") -> None:
        """A protocol surprise or a time limit: the whole sandbox goes; the test fails."""
        self.end(reason, kind)
        self.sandbox.kill()
        raise (SandboxTimeout if kind == "timeout" else SandboxCrashed)(reason)

    def _child_ended(self) -> None:
        """The child closed its channel: read how it ended from the server, and say so."""
        message = self.sandbox.read_exit()  # kills the sandbox when the report is not one
        kind, reason = describe_exit(message, self.limits)
        self.end(reason, kind)
        raise (SandboxTimeout if kind == "timeout" else SandboxCrashed)(reason)

    def await_begun(self) -> None:
        """The child's word that its harness is set up, before any student code runs. A child
        that ends (or says anything else) before it is the grader's failure: the sandbox is
        replaced and the submission is not charged (SandboxUnavailable)."""
        assert self.channel is not None
        try:
            message = boundary.read_message(self.channel.fileno(),
                                            time.monotonic() + START_TIMEOUT_S, 256)  # fmt: skip
        except (TimeoutError, EOFError, OSError, boundary.BoundaryError):
            message = None
        if message == {"op": "begun"}:
            return
        how = ""
        if message is None and self.sandbox.alive():
            try:
                how = " (" + describe_exit(self.sandbox.read_exit(), self.limits)[1] + ")"
            except SandboxCrashed:
                pass
        self.end("the sandbox could not start the submission's process")
        self.sandbox.kill()
        raise SandboxUnavailable(f"the sandbox could not start the submission's process{how}")

    def window(self, cpu_s: float, cpu_before: float = 0.0, idle_before: float = 0.0) -> Window:
        """The outside watch over a limit of `cpu_s` seconds of CPU time: the child's own timers
        come first (these fire CPU_GRACE_S + 1 s later, for a child that disarmed them), and the
        backstop allows `wall_factor` times the limit of time spent neither running nor waiting
        to run."""
        return Window(cpu_limit=cpu_s + CPU_GRACE_S + 1, idle_limit=self.limits.idle_limit_s(cpu_s),
                      processes=self.sandbox.submission_processes, cpu_before=cpu_before,
                      idle_before=idle_before)  # fmt: skip

    def main_cpu_seconds(self) -> float | None:
        """CPU time of the submission's own process so far, read by the kernel (not reported by
        the child, which could lie)."""
        if self.main_pid is None:
            self.main_pid = self.sandbox.submission_main()
        return process_cpu_seconds(self.main_pid) if self.main_pid else None

    def send(self, message: dict, deadline: float) -> None:
        assert self.channel is not None
        try:
            boundary.write_message(self.channel.fileno(), message, deadline)
        except TimeoutError:
            self.fail("the sandbox stopped reading its requests", "timeout")
        except OSError:  # the child is gone (EPIPE, ECONNRESET)
            self._child_ended()

    def receive(self, window: Window | None, what: str, cpu_s: float) -> Any:
        """The next message; `window` (a limit of `cpu_s` s of CPU time for `what`) is checked
        every POLL_S while waiting, and ends the sandbox when passed."""
        assert self.channel is not None

        def watch() -> None:
            passed = window.check() if window is not None else None
            if passed == "cpu":
                self.fail(f"{what} ran past its time limit of {cpu_s:g} s of CPU time",
                          "timeout")  # fmt: skip
            elif passed == "idle":
                self.fail(f"{what} ran past its time limit ({window.idle_limit:g} s without "
                          f"running, for {cpu_s:g} s of CPU time)", "timeout")  # fmt: skip

        try:
            return boundary.read_message(self.channel.fileno(), None,
                                         self.limits.max_reply_bytes, watch)  # fmt: skip
        except (EOFError, ConnectionResetError):
            self._child_ended()
        except boundary.BoundaryError as error:
            self.fail(f"the sandbox sent a garbled answer ({error})")

    def request(self, message: dict, window: Window, cpu_left: float) -> dict:
        """Send a request with the CPU time left to its test; its validated reply."""
        if self.dead:
            raise (SandboxTimeout if self.dead_kind == "timeout" else SandboxCrashed)(self.dead)
        assert self.channel is not None
        if boundary.pending(self.channel.fileno()):
            try:
                unasked = self.channel.recv(1, socket.MSG_PEEK)
            except OSError:
                unasked = b""
            if not unasked:
                self._child_ended()  # it ended between requests
            self.fail("the sandbox sent a message nobody asked for")
        self.last_id += 1
        self.send({**message, "id": self.last_id, "cpu_left": max(cpu_left, 0.01)},
                  time.monotonic() + START_TIMEOUT_S)  # fmt: skip
        reply = self.receive(window, "the test", self.limits.test_timeout_s)
        if not valid_reply(reply, self.last_id):
            self.fail("the sandbox sent a malformed answer")
        self.student_seconds += reply["seconds"]
        return reply

    def decode(self, value: Any, resolve_handle: Any) -> Any:
        """A reply's value as plain data; a value that breaks the boundary's rules ends the
        sandbox (whatever else the child may have sent is never read)."""
        try:
            return boundary.decode(value, resolve_handle)
        except boundary.BoundaryError as error:
            self.fail(f"the answer could not be read: {error}")

    def close(self) -> None:
        """End the child: close its channel, then wait for the server to report it gone."""
        if self.dead:
            return
        self.end("the submission's session ended")
        try:
            self.sandbox.read_exit()
        except SandboxCrashed:
            pass  # read_exit already ended the sandbox
