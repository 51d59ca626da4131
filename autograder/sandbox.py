"""Run student code in a separate, confined process: the trusted side of the sandbox.

`Sandbox` starts `autograder.worker` (a fork server that has already imported NumPy, torch,
IPython and matplotlib) under Linux bubblewrap when `bwrap` works here:

- its own pid, network (none), IPC and UTS namespaces, dying with the grader;
- a read-only view of the system (/usr, /etc), the Python installation and the virtual
  environment, plus the `autograder` and `courselib` packages, and nothing else of the course:
  no tests/, solutions/, source/, gradebook, or other submissions (the notebook's code is sent
  over the pipe; the files never enter);
- a private, size-bounded, writable /tmp holding the working folder;
- a scrubbed environment; an unprivileged uid (one per worker slot, so RLIMIT_NPROC holds).

Each submission runs in a fresh child forked from the server, with limits on memory
(RLIMIT_AS), CPU time, file size, processes; the grader enforces wall time per notebook and per
test and kills the whole sandbox when one is passed. Without bwrap the same worker runs with the
limits only (`isolation()` says which; reports and the summary say so): no filesystem or network
isolation, but a root grader still drops the worker to a uid of its own (keeping only the right to
read where the Python installation is root's alone), so RLIMIT_NPROC holds, writes go only where
any uid may, and the server kills every process of that uid after each submission.

Crash policy: a test that crashes the sandbox or runs out of time fails ("crashed" /
"timeout"); the next test runs in a fresh sandbox that executes the notebook again, up to
`MAX_RESTARTS` times per submission, after which the remaining tests are marked failed with the
same reason. A notebook that itself crashes or times out is not retried.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from autograder import boundary
from autograder.config import Lab

MAX_RESTARTS = 3
START_TIMEOUT_S = 120.0
SANDBOX_UID_BASE = 61000
TMP_BYTES = 512 * 2**20
DEFAULT_MAX_PROCESSES = 64
DEFAULT_MAX_OUTPUT_BYTES = 64 * 2**20
SIGNAL_WORDS = {
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGBUS: "a bus error",
    signal.SIGABRT: "an abort",
    signal.SIGFPE: "a fatal arithmetic error",
    signal.SIGILL: "an illegal instruction",
    signal.SIGKILL: "a kill signal (SIGKILL)",
    signal.SIGTERM: "a termination signal (SIGTERM)",
}


class SandboxError(Exception):
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


class SandboxUnavailable(SandboxError):
    kind = "error"


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_s: int
    cell_timeout_s: float
    notebook_timeout_s: float
    test_timeout_s: float
    max_processes: int = DEFAULT_MAX_PROCESSES
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES

    @classmethod
    def of(cls, lab: Lab) -> Limits:
        return cls(
            memory_mb=lab.memory_mb,
            cpu_s=int(lab.notebook_timeout_s + 20 * lab.test_timeout_s),
            cell_timeout_s=lab.cell_timeout_s,
            notebook_timeout_s=lab.notebook_timeout_s,
            test_timeout_s=lab.test_timeout_s,
            max_processes=int(getattr(lab, "max_processes", DEFAULT_MAX_PROCESSES)),
            max_output_bytes=int(getattr(lab, "max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES)),
        )


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve()
    return Path(spec.origin).resolve().parent if spec.origin else None


def _bwrap_command(device: str) -> list[str]:
    command = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session"]  # fmt: skip
    if os.getuid() != 0:
        command.append("--unshare-user")
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
    binds = [Path(sys.base_prefix).resolve(), Path(sys.prefix)]
    binds += [path for path in (_package_dir("autograder"), _package_dir("courselib")) if path]
    for path in dict.fromkeys(binds):
        if str(path).startswith(("/usr/", "/etc/")):
            continue
        parents(path)
        made.add(str(path))
        command.extend(["--ro-bind", str(path), str(path)])
    mpl_cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    if mpl_cache.is_dir():
        command.extend(["--perms", "0755", "--dir", "/opt", "--ro-bind", str(mpl_cache),
                        "/opt/mplcache"])  # fmt: skip
    command.extend(["--dev", "/dev", "--proc", "/proc", "--chdir", "/tmp"])
    if device.startswith("cuda"):
        for node in sorted(Path("/dev").glob("nvidia*")):
            command.extend(["--dev-bind-try", str(node), str(node)])
        command.extend(["--ro-bind-try", "/sys", "/sys",
                        "--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia"])  # fmt: skip
    return command


@cache
def bwrap_works() -> bool:
    """True when bubblewrap is installed and can build our sandbox on this machine."""
    if not shutil.which("bwrap"):
        return False
    try:
        done = subprocess.run(
            [*_bwrap_command("cpu"), sys.executable, "-I", "-c", "print('ok')"],
            capture_output=True, timeout=60, text=True,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "ok"


def isolation() -> str:
    """ "bwrap" or "limits only" (no bubblewrap: resource limits without filesystem isolation)."""
    if os.environ.get("AUTOGRADER_NO_BWRAP"):
        return "limits only"
    return "bwrap" if bwrap_works() else "limits only"


def _others_can_read(path: str) -> bool:
    """True when a process of another uid can reach `path` (every folder above it is o+x)."""
    folders = [Path(path).resolve(), *Path(path).resolve().parents]
    return all(folder.stat().st_mode & 0o001 for folder in folders if folder.exists())


def _scrubbed_env(device: str) -> dict[str, str]:
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
    if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
        env["AUTOGRADER_SANDBOX_DEBUG"] = "1"
    return env


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _process_count(uid: int) -> int:
    """Processes and threads of `uid`: what RLIMIT_NPROC counts."""
    count = 0
    for pid in _processes_of(uid):
        try:
            count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return count


def describe_exit(message: dict, limits: Limits) -> str:
    sig, code = message.get("signal"), message.get("code")
    if sig == signal.SIGXCPU:
        return f"the sandbox stopped: CPU time limit of {limits.cpu_s} s exceeded"
    if sig == signal.SIGXFSZ:
        return (f"the sandbox stopped: file size limit of {limits.max_output_bytes // 2**20} MB "
                "exceeded")  # fmt: skip
    if sig is not None:
        try:
            words = SIGNAL_WORDS.get(signal.Signals(sig), f"signal {signal.Signals(sig).name}")
        except ValueError:
            words = f"signal {sig}"
        if sig == signal.SIGKILL:
            return "the sandbox stopped: the process was killed (SIGKILL)"
        return f"the sandbox stopped: the process died of {words}"
    if code == 71:  # autograder.worker.EXIT_OUT_OF_MEMORY
        return f"the sandbox stopped: memory limit of {limits.memory_mb} MB exceeded"
    if code is not None:
        return (f"the sandbox stopped: your code ended the Python process (exit code {code}), "
                "for example with os._exit() or by killing itself")  # fmt: skip
    return "the sandbox stopped for an unknown reason"


class Sandbox:
    """One long-lived sandboxed fork server; `open()` runs a submission in a fresh child."""

    def __init__(self, slot: int = 0, device: str = "cpu", mode: str | None = None):
        self.slot = slot
        self.device = device
        self.mode = mode or isolation()
        self.process: subprocess.Popen | None = None
        self.session: Session | None = None
        self.starts = 0
        self.scratch: str | None = None

    def sandbox_uid(self) -> int:
        """An unprivileged uid of its own (per grading process and slot), for RLIMIT_NPROC."""
        return SANDBOX_UID_BASE + (os.getpid() * 8 + self.slot) % 20000

    # -- the server process
    def start(self) -> None:
        uid = self.sandbox_uid() if os.getuid() == 0 else None
        worker = [sys.executable, "-I", "-m", "autograder.worker", str(uid or "")]
        if self.mode == "bwrap":
            command = [*_bwrap_command(self.device), *worker, "--pid-namespace"]
        elif uid is not None and not _others_can_read(sys.base_prefix):
            command = [*worker, "--keep-read-access"]  # or the uid could not import Python
        else:
            command = worker
        env = _scrubbed_env(self.device)
        if self.mode != "bwrap":  # no private /tmp: a scratch folder of its own, removed at kill
            self.scratch = tempfile.mkdtemp(prefix="autograder-sandbox-")
            if uid is not None:
                os.chown(self.scratch, uid, uid)
            env.update(HOME=self.scratch, TMPDIR=self.scratch)
        debug = bool(os.environ.get("AUTOGRADER_SANDBOX_DEBUG"))
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None if debug else subprocess.DEVNULL, env=env,
            start_new_session=True, cwd=self.scratch or "/tmp",
        )  # fmt: skip
        self.starts += 1
        self.uid = uid if uid is not None else os.getuid()
        try:
            hello = boundary.read_message(self._out, time.monotonic() + START_TIMEOUT_S)
        except (TimeoutError, EOFError, boundary.BoundaryError):
            self.kill()
            raise SandboxUnavailable(
                f"the sandbox ({self.mode}) did not start; "
                "set AUTOGRADER_SANDBOX_DEBUG=1 to see why"
            ) from None
        if not isinstance(hello, dict) or hello.get("op") != "hello":
            self.kill()
            raise SandboxUnavailable("the sandbox sent a malformed greeting")

    @property
    def _in(self) -> int:
        assert self.process and self.process.stdin
        return self.process.stdin.fileno()

    @property
    def _out(self) -> int:
        assert self.process and self.process.stdout
        return self.process.stdout.fileno()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.session is not None:
            self.session.dead = self.session.dead or "the sandbox was stopped"
            self.session = None
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.mode != "bwrap" and self.uid != os.getuid():
            # no pid namespace to take them down: a submission's child has a process group of
            # its own, but not a uid of its own
            for pid in _processes_of(self.uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        self.process.wait()
        self.process = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    close = kill

    def _send(self, message: dict) -> None:
        try:
            boundary.write_message(self._in, message)
        except (BrokenPipeError, OSError):
            self.kill()
            raise SandboxCrashed("the sandbox stopped: its pipe closed") from None

    # -- submissions
    def open(
        self, notebook: dict, skip_tags: tuple[str, ...], seed: int, limits: Limits
    ) -> Session:
        """Execute `notebook` (an nbformat dict) in a fresh child; the session serves calls."""
        if self.session is not None:
            self.session.close()
        if not self.alive():
            self.start()
        if self.uid == os.getuid():  # no uid of its own: count what the uid already runs
            max_processes = _process_count(self.uid) + limits.max_processes
        else:
            max_processes = limits.max_processes
        request = {
            "op": "start", "notebook": notebook, "skip_tags": list(skip_tags), "seed": seed,
            "device": self.device,
            "limits": {"memory_mb": limits.memory_mb, "cpu_s": limits.cpu_s,
                       "cell_timeout_s": limits.cell_timeout_s,
                       "max_output_bytes": limits.max_output_bytes,
                       "max_processes": max_processes},
        }  # fmt: skip
        session = Session(self, limits)
        self.session = session
        self._send(request)
        deadline = time.monotonic() + limits.notebook_timeout_s
        ready = session.receive(deadline, what=f"the notebook ran past its time limit of "
                                                f"{limits.notebook_timeout_s:g} s")  # fmt: skip
        if ready.get("op") != "ready":
            session.dead = "the sandbox sent a malformed answer"
            self.kill()
            raise SandboxCrashed(session.dead)
        session.report = ready
        session.student_seconds += float(ready.get("seconds") or 0.0)
        return session


class Session:
    """One submission running in a sandbox child: send requests, get decoded replies."""

    def __init__(self, sandbox: Sandbox, limits: Limits):
        self.sandbox = sandbox
        self.limits = limits
        self.dead: str | None = None
        self.dead_kind = "crashed"
        self.report: dict[str, Any] = {}
        self.student_seconds = 0.0

    def receive(self, deadline: float | None, what: str = "") -> dict:
        sandbox = self.sandbox
        try:
            message = boundary.read_message(sandbox._out, deadline)
        except TimeoutError:
            self.dead, self.dead_kind = what or "the sandbox ran out of time", "timeout"
            sandbox.kill()
            raise SandboxTimeout(self.dead) from None
        except EOFError:
            self.dead = "the sandbox stopped: its process ended"
            sandbox.kill()
            raise SandboxCrashed(self.dead) from None
        except boundary.BoundaryError as error:
            self.dead = f"the sandbox sent a garbled answer ({error})"
            sandbox.kill()
            raise SandboxCrashed(self.dead) from None
        if not isinstance(message, dict):
            self.dead = "the sandbox sent a garbled answer"
            sandbox.kill()
            raise SandboxCrashed(self.dead)
        if message.get("op") == "exited":
            self.dead = describe_exit(message, self.limits)
            if sandbox.session is self:
                sandbox.session = None
            raise SandboxCrashed(self.dead)
        return message

    def request(self, message: dict, deadline: float | None) -> dict:
        if self.dead:
            error = SandboxTimeout if self.dead_kind == "timeout" else SandboxCrashed
            raise error(self.dead)
        self.sandbox._send(message)
        reply = self.receive(deadline, what=f"the test ran past its time limit of "
                                             f"{self.limits.test_timeout_s:g} s")  # fmt: skip
        self.student_seconds += float(reply.get("seconds") or 0.0) if isinstance(
            reply.get("seconds"), int | float) else 0.0  # fmt: skip
        if reply.get("op") not in ("reply", "error"):
            self.dead = "the sandbox sent a garbled answer"
            self.sandbox.kill()
            raise SandboxCrashed(self.dead)
        return reply

    def close(self) -> None:
        """End the child cleanly (or kill the sandbox if it does not end)."""
        if self.dead:
            return
        self.dead = "the submission's session ended"
        sandbox = self.sandbox
        if sandbox.session is self:
            sandbox.session = None
        try:
            boundary.write_message(sandbox._in, {"op": "end"})
            message = boundary.read_message(sandbox._out, time.monotonic() + 10)
            if not (isinstance(message, dict) and message.get("op") == "exited"):
                sandbox.kill()
        except (OSError, TimeoutError, EOFError, boundary.BoundaryError):
            sandbox.kill()
