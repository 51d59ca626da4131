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

import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.core.config import Lab
from autograder.core.notebook import MODULE_NAME
from autograder.core.processes import descendants, parents
from autograder.sandbox import boundary
from autograder.sandbox.bubblewrap import bwrap_command, gpu_index, isolation
from autograder.sandbox.cleanup import (
    kill_until_gone,
    processes_of,
    remove_files_of,
    remove_tree,
    status_fields,
)
from autograder.sandbox.errors import SandboxCrashed, SandboxTimeout, SandboxUnavailable
from autograder.sandbox.monitor import Window, namespace_depth, process_cpu_seconds
from autograder.sandbox.replies import is_text, valid_exit, valid_ready, valid_reply
from autograder.sandbox.uids import UidLease, lease_sandbox_uid
from autograder.sandbox.worker import CPU_GRACE_S

MAX_RESTARTS = 3
START_TIMEOUT_S = 120.0
EXIT_WAIT_S = 30.0  # how long a finished child's "exited" report may take (leftovers ended)
# A child whose session is over ends within this (its channel closed); one that has not (a
# process of its own stopped it, or it ignores the end) is then killed by the grader.
EXIT_GRACE_S = 2.0
DEFAULT_MAX_PROCESSES = 64
DEFAULT_MAX_OUTPUT_BYTES = 64 * 2**20
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



def _living(pid: int) -> bool:
    state = status_fields(pid).get("State", "")
    return bool(state) and not state.startswith("Z")



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
        command = [*bwrap_command(self.device, self.slot), *worker] if self.mode == "bwrap" \
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
        if type(hello) is dict and hello.get("op") == "broken" and is_text(hello.get("why"), 300):
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

    def end_lingering_child(self, grace_s: float) -> None:
        """After the session's channel closed: a child not gone within `grace_s` is killed, with
        everything it started, by this (trusted) side; the server then reports it as usual. (A
        daemon that keeps the submission's own process stopped would otherwise hold the server
        until the report's deadline, and the sandbox would be replaced.)"""
        if self.control is None:
            return
        reported, _, _ = select.select([self.control], [], [], grace_s)
        if not reported:
            kill_until_gone(lambda: [pid for pid in self.submission_processes() if _living(pid)])

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
        """End the child: close its channel, then wait for the server to report it gone (ending
        it from here when it lingers)."""
        if self.dead:
            return
        self.end("the submission's session ended")
        self.sandbox.end_lingering_child(EXIT_GRACE_S)
        try:
            self.sandbox.read_exit()
        except SandboxCrashed:
            pass  # read_exit already ended the sandbox
