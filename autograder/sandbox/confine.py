"""Confining one submission's processes: namespaces, privileges and system calls (Linux, libc).

The sandbox's server keeps the privileges it needs to build a fresh world for each submission
(as root, or with capabilities inside bubblewrap's user namespace) and never runs student code.
Each submission's child gets, from these calls:

- `new_namespaces`: its own pid, mount, IPC, UTS and network namespaces (under bubblewrap), so
  that its processes, files, System V and POSIX IPC objects, host name and sockets end with it:
  the kernel tears a pid namespace down when its init ends, and a mount or IPC namespace with
  its last process;
- `private_filesystems`: fresh, size-bounded tmpfs on /tmp and /dev/shm, and a /proc that shows
  only the submission's own processes;
- `drop_privileges`: an unprivileged uid (or, where only one uid exists, no capabilities at all),
  no way to gain privileges again (setuid programs included);
- `deny_keyrings`: a seccomp filter that refuses the kernel's key-management calls, whose
  per-uid keyrings would otherwise outlive every process of the uid.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import platform
import re
import socket
import stat
import struct
from functools import cache

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SECCOMP_MODE_FILTER = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
CAP_LAST = 63  # capabilities past the kernel's last are refused with EINVAL: harmless

# The capabilities the server keeps inside bubblewrap (everything else is dropped there):
# namespaces and mounts, becoming the sandbox uid, dropping the bounding set, handing the
# submission its folder, and bringing up the loopback of a fresh network namespace.
SERVER_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_CHOWN",
                       "CAP_FOWNER", "CAP_DAC_OVERRIDE", "CAP_NET_ADMIN", "CAP_KILL")  # fmt: skip


class ConfineError(OSError):
    """A confinement step the kernel refused (the sandbox cannot isolate a submission here)."""


@cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise ConfineError(errno, f"{what}: {os.strerror(errno)}")


def prctl(option: int, arg: int = 0) -> int:
    return libc().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                        ctypes.c_ulong(0))  # fmt: skip


def die_with_parent() -> None:
    """SIGKILL from the kernel when the parent dies (fork does not inherit the request)."""
    prctl(PR_SET_PDEATHSIG, 9)


def become_subreaper() -> None:
    """Orphans of this process's descendants become its children, not init's: a submission's
    daemon (double fork, setsid) stays where the server can find and end it."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def make_undumpable() -> None:
    """No process of the same uid can ptrace this one or open its /proc files."""
    prctl(PR_SET_DUMPABLE, 0)


def new_namespaces() -> None:
    """Pid (for the next child), mount, IPC, UTS and network namespaces of their own."""
    _check(libc().unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
                          | CLONE_NEWNET), "unshare")  # fmt: skip


def _mount(source: str, target: str, kind: str | None, flags: int, data: str | None) -> None:
    _check(libc().mount(source.encode(), target.encode(), kind.encode() if kind else None,
                        ctypes.c_ulong(flags), data.encode() if data else None),
           f"mount {target}")  # fmt: skip


def _mount_points_under(folder: str) -> list[str]:
    """The outermost mount points below `folder` (bubblewrap's read-only binds of a virtual
    environment or a course that lives under /tmp), from /proc/self/mountinfo."""
    found = []
    with open("/proc/self/mountinfo") as table:
        for line in table:
            # octal escapes: \040 is a space
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point.startswith(folder + "/"):
                found.append(point)
    outermost: list[str] = []
    for point in sorted(set(found), key=len):
        if not any(point.startswith(kept + "/") for kept in outermost):
            outermost.append(point)
    return outermost


def private_filesystems(tmp_bytes: int, shm_bytes: int) -> None:
    """In a fresh mount namespace: new tmpfs on /tmp and /dev/shm, and a /proc of the current pid
    namespace. Mounts stay private (nothing propagates back to the server's world). What was
    mounted below the old /tmp (read-only binds of the Python installation or the kit, when they
    live there) is bound again below the new one, read-only as it was, with root's folders
    leading to it."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    kept = [(point, os.open(point, os.O_PATH | os.O_CLOEXEC))
            for point in _mount_points_under("/tmp")]  # fmt: skip
    for target, size in (("/tmp", tmp_bytes), ("/dev/shm", shm_bytes)):
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for point, handle in kept:
        if stat.S_ISDIR(os.fstat(handle).st_mode):
            os.makedirs(point, 0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(point), 0o755, exist_ok=True)
            open(point, "a").close()
        _mount(f"/proc/self/fd/{handle}", point, None, MS_BIND | MS_REC, None)
        os.close(handle)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)


def loopback_up() -> None:
    """A fresh network namespace has its loopback down: bring it up (localhost works, nothing
    else exists)."""
    ifreq = struct.pack("16sH22x", b"lo", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        flags = struct.unpack("16sH22x", fcntl.ioctl(probe, 0x8913, ifreq))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(probe, 0x8914, struct.pack("16sH22x", b"lo", flags | 0x1))  # SIOCSIFFLAGS UP


def drop_privileges(uid: int | None) -> None:
    """Become `uid` (when running as root) with no capabilities left, and never gain any again.

    Without a uid to become (a grader that is not root: bubblewrap maps one uid only), every
    capability is dropped: effective, permitted, inheritable, ambient and bounding."""
    c = libc()
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for capability in range(CAP_LAST + 1):
        prctl(PR_CAPBSET_DROP, capability)  # needs CAP_SETPCAP; without it there is none to drop
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    _check(c.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    _check(prctl(PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")


# ---------------------------------------------------------------------------- seccomp

# The key-management calls (add_key, request_key, keyctl) by architecture, with the audit arch.
KEYRING_CALLS = {
    "x86_64": (0xC000003E, (248, 249, 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
}
X32_SYSCALL_BIT = 0x40000000
EPERM = 1


def _keyring_filter(arch: int, calls: tuple[int, ...]) -> bytes:
    """A classic BPF program: any other architecture's calls (i386 through int 0x80, x32) and the
    key-management calls fail with EPERM; everything else is allowed."""
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | EPERM

    def op(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    program = [op(ld, 0, 0, 4), op(jeq, 1, 0, arch), op(ret, 0, 0, deny), op(ld, 0, 0, 0),
               op(jge, len(calls) + 1, 0, X32_SYSCALL_BIT)]  # fmt: skip
    for index, number in enumerate(calls):
        program.append(op(jeq, len(calls) - index, 0, number))
    program += [op(ret, 0, 0, allow), op(ret, 0, 0, deny)]
    return b"".join(program)


def deny_keyrings() -> bool:
    """Install the filter (after `drop_privileges`: it needs no_new_privs); False on an
    architecture this module does not know (the server then checks keys after each child)."""
    known = KEYRING_CALLS.get(platform.machine())
    if known is None:
        return False
    code = _keyring_filter(*known)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(code)
    program = SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(libc().prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER),
                        ctypes.byref(program), 0, 0), "seccomp")  # fmt: skip
    return True


def close_all_but(*keep: int) -> None:
    """Close every descriptor above stderr except `keep`."""
    high = os.sysconf("SC_OPEN_MAX")
    low = 3
    for fd in sorted(set(keep)):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, high)
