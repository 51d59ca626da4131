"""What a submission can leave on a machine it shares (limits-only mode), ended by the trusted side.

Without bubblewrap there are no namespaces to throw away: a submission's processes, the files it
wrote where any uid may write (/tmp, /var/tmp, /dev/shm, /run/lock, /dev/mqueue and the
world-writable folders inside them) and its System V IPC objects stay on the machine. With a root
grader every submission runs as the sandbox's own uid, so all of that is found by owner (and by
creator: a segment handed to another owner with IPC_SET is still its creator's), and removed as
root, whatever permissions the submission set; `leftovers` then proves it gone. Processes are
killed until none is left: `kill(-1)` sent as the uid reaches every one of them in one pass of the
kernel (a process that forks or changes its id meanwhile is caught by the next pass).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import time
from collections.abc import Callable

from autograder.sandbox.confine import libc

SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
MAX_DEPTH = 4  # world-writable folders inside the shared ones, searched this deep
IPC_TABLES = {"shm": "shmid", "sem": "semid", "msg": "msqid"}  # /proc/sysvipc/<kind>: id column
IPC_RMID = 0
KILL_TIMEOUT_S = 10.0


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


def reap() -> None:
    """Collect ended children (a subreaper inherits a submission's orphans)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _kill_as(uid: int) -> None:
    """kill(-1, SIGKILL) as `uid`: every process of the uid, in one pass of the kernel (which
    holds off forks meanwhile), from a short-lived helper that becomes the uid."""
    helper = os.fork()
    if helper == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def kill_until_gone(find: Callable[[], list[int]], kill_all: Callable[[], None] | None = None,
                    timeout_s: float = KILL_TIMEOUT_S) -> bool:  # fmt: skip
    """Kill what `find` lists (with `kill_all` first, when given) until it lists nothing;
    False if something still lives after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        living = find()
        if not living:
            return True
        if time.monotonic() > deadline:
            return False
        if kill_all is not None:
            kill_all()
        for pid in living:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        reap()
        time.sleep(0.005)


def end_processes_of(uid: int) -> bool:
    """Kill every process of `uid` (run as root) until none is left; False if one survives."""
    return kill_until_gone(lambda: processes_of(uid, living_only=True), lambda: _kill_as(uid))


def remove_tree(path: str) -> None:
    """Remove `path` whatever modes were set inside it: a folder left read-only (0500) by its
    owner is opened up again first (root needs no such help; the owner does)."""

    def open_up_and_retry(function: Callable, failed: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
        with contextlib.suppress(OSError):
            function(failed)

    if os.path.isdir(path) and not os.path.islink(path):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        shutil.rmtree(path, onerror=open_up_and_retry)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _owned_entries(uid: int, spare: str | None) -> list[str]:
    """Paths owned by `uid` in the shared folders, and in the world-writable folders inside them
    (such as /tmp/.X11-unix), up to MAX_DEPTH deep."""
    spare_real = os.path.realpath(spare) if spare else None
    found: list[str] = []
    queue = [(folder, 0) for folder in SHARED_FOLDERS]
    while queue:
        folder, depth = queue.pop()
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if spare_real and os.path.realpath(path) == spare_real:
                continue
            if info.st_uid == uid:
                found.append(path)
            elif (stat.S_ISDIR(info.st_mode) and info.st_mode & 0o002 and depth < MAX_DEPTH):
                queue.append((path, depth + 1))
    return found


def _ipc_table(kind: str) -> list[dict[str, str]]:
    try:
        with open(f"/proc/sysvipc/{kind}") as table:
            header = table.readline().split()
            return [dict(zip(header, line.split())) for line in table]
    except OSError:
        return []


def ipc_objects_of(uid: int) -> list[tuple[str, int]]:
    """System V IPC objects that `uid` owns or created: (kind, id)."""
    me = str(uid)
    return [(kind, int(row[column])) for kind, column in IPC_TABLES.items()
            for row in _ipc_table(kind)
            if me in (row.get("uid"), row.get("cuid")) and row.get(column, "").isdigit()]


def remove_ipc_object(kind: str, ident: int) -> None:
    c = libc()
    if kind == "shm":
        c.shmctl(ident, IPC_RMID, None)
    elif kind == "sem":
        c.semctl(ident, 0, IPC_RMID)
    else:
        c.msgctl(ident, IPC_RMID, None)


def remove_files_of(uid: int, spare: str | None = None) -> None:
    """Remove what `uid` left in the shared folders (but `spare`) and its IPC objects."""
    for path in _owned_entries(uid, spare):
        remove_tree(path)
    for kind, ident in ipc_objects_of(uid):
        remove_ipc_object(kind, ident)


def leftovers(uid: int, spare: str | None = None) -> list[str]:
    """What of `uid` is still on the machine: processes, files in shared folders, IPC objects."""
    found = [f"process {pid}" for pid in processes_of(uid, living_only=True)]
    found += _owned_entries(uid, spare)
    found += [f"{kind} {ident}" for kind, ident in ipc_objects_of(uid)]
    return found


def key_count(uid: int) -> int:
    """Keys the kernel holds for `uid` (/proc/key-users; 0 where keyrings are not built in)."""
    try:
        with open("/proc/key-users") as table:
            for line in table:
                owner, _, rest = line.partition(":")
                if owner.strip() == str(uid):
                    return int(rest.split()[1].split("/")[0])
    except (OSError, IndexError, ValueError):
        pass
    return 0
