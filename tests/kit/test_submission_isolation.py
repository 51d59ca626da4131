"""Nothing crosses between submissions of one sandbox, with and without bubblewrap.

Each test runs an attacker and then a victim in the same sandbox (one fork server), as two
submissions of one grading worker, and checks what the victim can see or suffer. The attacks are
written as a student would write them: against descriptors, files, the server, the protocol,
and the limits the child could switch off for itself.

The whole module runs while both cores are kept busy (2 spinning processes per core): a verdict
must not depend on how busy the machine is.
"""

from __future__ import annotations

import os
import subprocess
import time

import nbformat
import pytest
from cpu_load import cpu_load

from autograder.judging import judge
from autograder.judging.submission_errors import SubmissionRaised
from autograder.sandbox import (
    UID_RANGE_ENV,
    Limits,
    Sandbox,
    SandboxCrashed,
    SandboxTimeout,
    SandboxUnavailable,
    isolation,
    lease_sandbox_uid,
)
from autograder.sandbox.cleanup import processes_of

LIMITS = Limits(memory_mb=1024, cpu_s=60, cell_timeout_s=3, notebook_timeout_s=30,
                test_timeout_s=3, max_processes=32, wall_factor=4)  # fmt: skip
MARKER = f"LEFT-BY-AN-EARLIER-SUBMISSION-{os.getpid()}-{time.time_ns()}"

DESCRIPTORS = '''
import os, stat
def descriptors():
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            mode = os.fstat(int(name)).st_mode
        except OSError:
            continue
        found[int(name)] = "socket" if stat.S_ISSOCK(mode) else "pipe" if stat.S_ISFIFO(mode) \\
            else "null" if os.path.realpath(f"/proc/self/fd/{name}") == "/dev/null" else "other"
    return found
'''

# Writes a forged message on every socket or pipe it holds (the way to the grader, and to the
# server if it were reachable), then tries the server's descriptors through /proc.
FORGER = DESCRIPTORS + '''
import json, struct
def forge(message):
    data = json.dumps(message).encode()
    frame = struct.pack(">Q", len(data)) + data
    wrote = []
    for fd, kind in descriptors().items():
        if kind in ("socket", "pipe"):
            try:
                os.write(fd, frame)
                wrote.append(fd)
            except OSError:
                pass
    for fd in range(64):
        try:
            handle = os.open(f"/proc/{os.getppid()}/fd/{fd}", os.O_RDWR)
        except OSError:
            continue
        os.write(handle, frame)
        wrote.append(("server", fd))
    return wrote
'''

# Where a submission can write: the shared folders, and its own ones
FOLDERS = '''
import os
def writable_places():
    return {"/tmp", "/var/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp"),
            os.environ.get("HOME", "/tmp"), os.getcwd()}
'''

PLANTER = FOLDERS + f'''
def plant():
    planted = []
    for folder in writable_places():
        for name in ["planted.txt"] + [f"work-{{os.getpid() + k}}" for k in range(1, 20)]:
            try:
                with open(os.path.join(folder, name), "w") as handle:
                    handle.write("{MARKER}")
                planted.append(os.path.join(folder, name))
            except OSError:
                pass
    return planted
'''

FINDER = FOLDERS + f'''
def findings():
    """Files with the marker that this uid (the sandbox's, so an earlier submission's too) can
    have written; folders of other owners are not entered (a course or a virtual environment may
    live in /tmp: thousands of files no submission wrote)."""
    seen = []
    me = os.getuid()
    for top in writable_places():
        for folder, folders, files in os.walk(top):
            folders[:] = [f for f in folders if os.lstat(os.path.join(folder, f)).st_uid == me]
            for name in files:
                path = os.path.join(folder, name)
                try:
                    if os.lstat(path).st_uid != me:
                        continue
                    with open(path, errors="replace") as handle:
                        if "{MARKER}" in handle.read(200):
                            seen.append(path)
                except OSError:
                    pass
    return sorted(set(seen))
PLACES = (os.getcwd(), os.environ["TMPDIR"], os.environ["HOME"])
def double(x):
    return 2 * x
'''


def namespace(box: Sandbox, *sources: str, limits: Limits = LIMITS) -> judge.RemoteNamespace:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# lab")]
                                  + [nbformat.v4.new_code_cell(s) for s in sources])  # fmt: skip
    connection = judge.Connection(sandbox=box, payload=judge.notebook_payload(nb), skip_tags=(),
                                  seed=1, limits=limits)  # fmt: skip
    return judge.RemoteNamespace(connection)


def victim_is_unharmed(box: Sandbox) -> tuple[str, ...]:
    """A clean submission in the same sandbox: it sees nothing earlier ones left and works."""
    sub = namespace(box, FINDER)
    assert sub.findings() == []
    assert sub.double(21) == 42
    places = sub.PLACES
    sub._connection.close()
    return places


MODES = ["bwrap", "limits only"]


@pytest.fixture(scope="module", autouse=True)
def busy_machine():
    with cpu_load(per_core=2):
        yield


@pytest.fixture(scope="module", params=MODES)
def box(request):
    if request.param == "bwrap" and isolation() != "bwrap":
        pytest.skip("bubblewrap is not available here")
    sandbox = Sandbox(slot=4, mode=request.param)
    yield sandbox
    sandbox.close()


CONFINEMENT = '''
import ctypes, platform
def status():
    with open("/proc/self/status") as handle:
        return dict(line.rstrip("\\n").split(":\\t", 1) for line in handle if ":\\t" in line)
def add_key():
    libc = ctypes.CDLL(None, use_errno=True)
    number = {"x86_64": 248, "aarch64": 217}[platform.machine()]
    return libc.syscall(number, b"user", b"note", b"kept", 4, -4), ctypes.get_errno()
'''


@pytest.mark.slow
def test_a_submission_holds_its_own_channel_and_nothing_else(box):
    sub = namespace(box, DESCRIPTORS, CONFINEMENT)
    held = sub.descriptors()
    assert sorted(held.values()) == ["null", "null", "null", "socket"], held
    status = sub.status()  # no capability at all, none to gain, and the keyring calls refused
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, (field, status[field])
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
    assert sub.add_key() == (-1, 1)  # EPERM: a note in the uid's keyring would outlive it
    sub._connection.close()


@pytest.mark.slow
def test_forged_messages_fail_only_the_forger(box):
    """Forged "exited" and reply frames reach only the forger's own channel: its call fails as
    crashed, its sandbox is replaced, and the next submission is graded as if alone."""
    starts = box.starts
    sub = namespace(box, FORGER)
    with pytest.raises(SandboxCrashed):
        sub.forge({"op": "exited", "signal": None, "code": 0})
    assert box.starts == starts + 1 or not box.alive()
    victim_is_unharmed(box)
    sub = namespace(box, FORGER)
    with pytest.raises(SandboxCrashed, match="garbled|malformed|could not be read"):
        sub.forge({"op": "reply", "id": 999, "seconds": 0, "cpu": 0,
                   "value": {"t": "nd", "dtype": "object", "shape": [1], "b64": ""}})
    victim_is_unharmed(box)


@pytest.mark.slow
def test_a_message_nobody_asked_for_is_never_read_as_an_answer(box):
    """A thread writes a well-formed reply after the real one and the child exits: the next
    request must not take the stale frame as its answer."""
    sub = namespace(box, FORGER + '''
import threading
def answer_ahead():
    def later():
        import time
        time.sleep(0.5)
        forge({"op": "reply", "id": 2, "seconds": 0, "cpu": 0, "value": 12345})
    threading.Thread(target=later).start()
    return 1
def double(x):
    return 2 * x
''')
    assert sub.answer_ahead() == 1
    time.sleep(1.5)
    with pytest.raises(SandboxCrashed, match="nobody asked for"):
        sub.double(1)
    assert sub.double(2) == 4  # a fresh child, in a fresh sandbox
    sub._connection.close()
    victim_is_unharmed(box)


@pytest.mark.slow
def test_files_planted_for_later_submissions_are_gone(box):
    sub = namespace(box, PLANTER)
    assert sub.plant()
    first_places = namespace(box, FINDER).PLACES
    places = victim_is_unharmed(box)
    assert not set(places) & set(first_places)  # fresh folders, at names no one could predict


@pytest.mark.slow
def test_a_leftover_process_cannot_reach_the_next_submission(box):
    """A daemon that plants files and stops every process it may signal (the submission's own
    one included, so that it never ends by itself): the grader ends it all from outside at the
    session's end, in the same sandbox, and the next submission sees nothing of it."""
    sub = namespace(box, PLANTER + '''
import os, signal, time
def leave_a_daemon():
    if os.fork() == 0:
        os.setsid()
        for _ in range(600):
            plant()
            for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
                if pid != os.getpid():
                    try:
                        os.kill(pid, signal.SIGSTOP)
                    except OSError:
                        pass
            time.sleep(0.05)
        os._exit(0)
    return True
''')
    assert sub.leave_a_daemon()
    starts = box.starts  # the sandbox runs this submission now
    time.sleep(0.5)
    sub._connection.close()
    victim_is_unharmed(box)
    assert box.starts == starts  # the same sandbox: nothing timed out on the way


@pytest.mark.slow
def test_a_child_that_stops_or_kills_the_server_harms_only_itself(box):
    """Its parent is the namespace's init (bubblewrap) or the root server (limits only): a
    process the sandbox uid may not signal. Without root (one uid for all) the signal lands, and
    only the child's own grade may suffer."""
    source = "import os, signal\ndef stop():\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return 1\n" \
             "def kill():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 1\n"
    starts = box.starts
    for attack in ("stop", "kill"):
        sub = namespace(box, source)
        if os.getuid() == 0:
            with pytest.raises(SubmissionRaised, match="not permitted"):
                getattr(sub, attack)()
        else:
            try:
                getattr(sub, attack)()
            except SandboxCrashed:
                pass  # the child dies with its server
        sub._connection.close()
        victim_is_unharmed(box)
    if os.getuid() == 0:
        assert box.starts == starts  # the server never noticed


@pytest.mark.slow
def test_time_limits_count_cpu_time_and_wall_time_is_a_backstop(box):
    sub = namespace(box, "import time\ntime.sleep(4)\nSLEPT = True\n"
                         "def nap(s):\n    time.sleep(s)\n    return s\n"
                         "def spin():\n    while True:\n        pass\n")  # fmt: skip
    assert sub._connection.current().report["cells"][0]["error"] is None  # 4 s asleep, 0 of CPU
    assert sub.SLEPT
    sub._connection.begin_test(True)
    assert sub.nap(4) == 4  # over the test's 3 s, but not of CPU time
    with pytest.raises(SandboxTimeout, match="3 s of CPU time"):
        sub.spin()
    sub._connection.begin_test(True)
    with pytest.raises(SandboxTimeout, match="12 s without running"):
        sub.nap(60)
    sub._connection.close()


def _sleeper(uid: int) -> subprocess.Popen:
    def become() -> None:
        os.setgid(uid)
        os.setuid(uid)

    return subprocess.Popen(["sleep", "120"], preexec_fn=become)


@pytest.mark.skipif(os.getuid() != 0, reason="sandbox uids are leased by a root grader only")
def test_sandbox_uids_are_leased_from_a_range_no_account_uses(monkeypatch):
    monkeypatch.setenv(UID_RANGE_ENV, "1-100")  # daemon, bin, sys...
    with pytest.raises(SandboxUnavailable, match="include the account"):
        lease_sandbox_uid()
    base = 1_950_000_000
    monkeypatch.setenv(UID_RANGE_ENV, f"{base}-{base + 1}")
    stranger = _sleeper(base)  # a process this grader did not start
    try:
        time.sleep(0.3)
        first = lease_sandbox_uid()
        assert first.uid == base + 1  # in use by someone else: skipped
        with pytest.raises(SandboxUnavailable, match="no free sandbox uid"):
            lease_sandbox_uid()  # the other is leased (locked) by us already
        box = Sandbox(slot=2, mode="limits only")
        box.lease = first
        sub = namespace(box, "def double(x):\n    return 2 * x\n")
        assert sub.double(2) == 4 and box.uid == base + 1
        box.close()
        assert stranger.poll() is None and processes_of(base) == [stranger.pid]
        lease_sandbox_uid().release()  # the lease ended with the sandbox
    finally:
        stranger.kill()
        stranger.wait()


DISARMING = '''
import resource, signal, time
def disarm():
    for name in ("SIGPROF", "SIGALRM", "SIGXCPU", "SIGVTALRM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    for timer in (signal.ITIMER_PROF, signal.ITIMER_REAL, signal.ITIMER_VIRTUAL):
        signal.setitimer(timer, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
    signal.setitimer = lambda *args, **kwargs: (0.0, 0.0)  # the harness's own helper, too
def spin():
    disarm()
    while True:
        pass
def nap():
    disarm()
    time.sleep(600)
'''


@pytest.mark.slow
def test_limits_the_child_switches_off_still_hold(box):
    """Timers stopped, their signals ignored, the soft CPU limit raised to the hard one and the
    harness's helper replaced: the grader's watch from outside still ends the test, on its CPU
    time (3 s) and on its sleeping time (12 s), and the next submission is unharmed."""
    sub = namespace(box, DISARMING)
    sub._connection.begin_test(True)
    with pytest.raises(SandboxTimeout, match="time limit of 3 s of CPU time"):
        sub.spin()
    sub._connection.begin_test(True)
    started = time.monotonic()
    with pytest.raises(SandboxTimeout, match="12 s without running"):
        sub.nap()
    assert time.monotonic() - started < 60
    sub._connection.close()
    limits = Limits(memory_mb=1024, cpu_s=60, cell_timeout_s=3, notebook_timeout_s=5,
                    test_timeout_s=3, max_processes=32, wall_factor=2)  # fmt: skip
    sub = namespace(box, DISARMING + "disarm()\ntime.sleep(600)", limits=limits)
    with pytest.raises(SandboxTimeout, match="10 s without running"):
        sub._connection.current()  # the notebook's own backstop, from outside
    victim_is_unharmed(box)


@pytest.mark.slow
def test_a_cpu_bound_call_on_a_crowded_machine_meets_no_wall_clock(box):
    """2.5 s of CPU time for a test of 3 s, while 12 processes compete for the 2 cores (about
    15 s of wall-clock time, past 4 times the limit): it waits to run, it does not sleep, so only
    its CPU time counts and the answer comes back."""
    sub = namespace(box, "import time\ndef work(seconds):\n    end = time.process_time() + "
                         "seconds\n    while time.process_time() < end:\n        pass\n"
                         "    return seconds\n")  # fmt: skip
    sub._connection.begin_test(True)
    with cpu_load(per_core=4):
        assert sub.work(2.5) == 2.5
    sub._connection.close()
