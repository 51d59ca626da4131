"""The sandbox's own uid: leased by a root grader, one per sandbox, from a range no account uses.

Killing "every process of the uid" (`autograder.sandbox.cleanup`) must only ever kill our own, so
a uid is leased (an flock held while the sandbox lives) only when no account, no group and no
living process uses it.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox.cleanup import remove_files_of, status_fields
from autograder.sandbox.errors import SandboxUnavailable

# Sandbox uids: a range that no account uses (systemd leaves 0x70000000-0x7FFFFFFF unassigned).
UID_RANGE_ENV = "AUTOGRADER_SANDBOX_UIDS"
DEFAULT_UID_RANGE = (1_900_000_000, 1_900_065_535)


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
