"""The sandbox with real notebooks: isolation, limits, crashes, timeouts and handles.

The whole module runs while both cores are kept busy (2 spinning processes per core)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from cpu_load import cpu_load

from autograder.core.config import load_course
from autograder.judging import judge
from autograder.sandbox import (
    Limits,
    Sandbox,
    SandboxCrashed,
    SandboxTimeout,
    isolation,
)
from autograder.sandbox.cleanup import processes_of
from autograder.testing import strict_call

REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(memory_mb=1024, cpu_s=60, cell_timeout_s=3, notebook_timeout_s=30,
                test_timeout_s=3, max_processes=32)  # fmt: skip

PROBE = f'''
import os, socket
def can_read(path):
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False
VISIBLE = {{p: can_read(p) for p in {[str(REPO / "tests" / "conftest.py"),
                                      str(REPO / "course_config.py"),
                                      str(REPO / "solutions")]!r}}}
ENV = dict(os.environ)
UID = os.getuid()
try:
    socket.create_connection(("1.1.1.1", 443), timeout=2)
    NETWORK = True
except OSError:
    NETWORK = False
try:
    open({str(REPO / "sandbox-was-here")!r}, "w")
    WROTE = True
except OSError:
    WROTE = False
'''

FUNCTIONS = '''
import numpy as np, torch, os, time
def naive_sigmoid(n):
    return 1 / (1 + np.exp(-n))
def spin():
    while True:
        pass
def die():
    os.kill(os.getpid(), 9)
class Counter:
    def __init__(self, start):
        self.value = start
    def add(self, k):
        self.value = self.value + k
        return self.value
def forks(n, leave_group=False):
    children = 0
    try:
        for _ in range(n):
            if os.fork() == 0:
                if leave_group:
                    os.setsid()
                time.sleep(30)
                os._exit(0)
            children += 1
    except OSError:
        pass
    return children
layer = torch.nn.Linear(2, 1)
'''


def notebook(*sources: str) -> dict:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    return judge.notebook_payload(nb)


@pytest.fixture(scope="module", autouse=True)
def busy_machine():
    with cpu_load(per_core=2):
        yield


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(slot=7)
    yield box
    box.close()


def connect(sandbox: Sandbox, *sources: str) -> judge.RemoteNamespace:
    connection = judge.Connection(sandbox=sandbox, payload=notebook(*sources), skip_tags=(),
                                  seed=1, limits=LIMITS)  # fmt: skip
    return judge.RemoteNamespace(connection)


@pytest.mark.slow
def test_the_course_network_and_privileges_are_out_of_reach(sandbox):
    if isolation() != "bwrap":
        pytest.skip("bubblewrap is not available here: limits only")
    sub = connect(sandbox, PROBE)
    assert not any(sub.VISIBLE.values()), sub.VISIBLE
    assert sub.UID != 0 and not sub.NETWORK and not sub.WROTE
    assert not (REPO / "sandbox-was-here").exists()
    env = sub.ENV
    assert "seed_salt" not in str(env) and not any("AUTOGRADER_COURSE" in key for key in env)
    assert env["OMP_NUM_THREADS"] == "1" and env["COURSELIB_DEVICE"] == "cpu"


@pytest.mark.slow
def test_handles_calls_attributes_and_strict_calls(sandbox):
    sub = connect(sandbox, FUNCTIONS)
    counter = sub.Counter(np.arange(3.0))
    assert type(counter) is judge.RemoteObject
    assert np.array_equal(counter.add(1.0), [1.0, 2.0, 3.0])
    counter.value = np.zeros(2)
    assert type(counter.value) is np.ndarray and counter.value.tolist() == [0.0, 0.0]
    weight = sub.layer.weight
    assert type(weight) is torch.Tensor and weight.shape == (1, 2)
    assert np.isclose(sub.naive_sigmoid(-1000.0), 0.0)  # a RuntimeWarning only
    with pytest.raises(FloatingPointError):
        strict_call(sub.naive_sigmoid, -1000.0)
    with pytest.raises(pytest.fail.Exception, match="does not define `missing`"):
        sub.missing  # noqa: B018


@pytest.mark.slow
def test_a_crash_fails_one_test_and_the_next_starts_fresh(sandbox):
    sub = connect(sandbox, FUNCTIONS)
    with pytest.raises(SandboxCrashed, match="SIGKILL"):
        sub.die()
    assert sub.Counter(1).add(2) == 3  # a fresh child ran the notebook again
    connection = sub._connection
    connection.begin_test(True)
    with pytest.raises(SandboxTimeout, match="time limit of 3 s of CPU time"):
        sub.spin()
    connection.begin_test(False)
    assert sub.Counter(5).add(1) == 6  # and after a timeout, a fresh child


@pytest.mark.slow
def test_fork_bombs_and_endless_cells_are_contained(sandbox):
    sub = connect(sandbox, FUNCTIONS, "while True:\n    pass", "AFTER = 1")
    report = sub._connection.current().report
    assert "time limit of 3 s of CPU time" in report["cells"][1]["error"]
    assert sub.AFTER == 1
    assert sub.forks(500) < LIMITS.max_processes


def settled_count(uid: int, expected: int) -> int:
    """The living processes of `uid` once killed ones are gone (a killed process is a zombie
    until its new parent, the machine's init, reaps it: it runs nothing meanwhile)."""
    deadline = time.monotonic() + 10
    while len(processes_of(uid, living_only=True)) > expected and time.monotonic() < deadline:
        time.sleep(0.1)
    living = processes_of(uid, living_only=True)
    return len(living)


@pytest.mark.slow
def test_without_bubblewrap_the_limits_still_hold():
    """Limits only: a root grader still drops the sandbox to a uid of its own (which RLIMIT_NPROC
    binds), and what a submission leaves running is killed, even outside its process group."""
    box = Sandbox(slot=5, mode="limits only")
    try:
        sub = connect(box, PROBE, FUNCTIONS)
        if os.getuid() == 0:
            assert sub.UID != 0 and sub.UID == box.uid and not sub.WROTE
            assert not (REPO / "sandbox-was-here").exists()
        assert sub.forks(3, leave_group=True) == 3
        sub._connection.close()
        if box.uid != os.getuid():  # with a uid of its own, count what runs under it
            assert settled_count(box.uid, 0) == 0  # nothing: the fork server is root's
        sub = connect(box, FUNCTIONS, "import time\ndef nap():\n    time.sleep(60)")
        assert sub.forks(500) < LIMITS.max_processes
        sub._connection.begin_test(True)
        with pytest.raises(SandboxTimeout):
            sub.nap()  # the grader kills the sandbox: nothing of it may keep running
        if box.uid != os.getuid():
            assert settled_count(box.uid, 0) == 0
    finally:
        box.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_sandbox_sees_the_gpu_deterministically():
    box = Sandbox(slot=6, device="cuda")
    try:
        sub = connect(box, "import torch, os\nfrom courselib import get_device\n"
                           "DEVICE = str(get_device())\nTF32 = torch.backends.cuda.matmul.allow_tf32\n"
                           "DET = torch.backends.cudnn.deterministic\n"
                           "X = torch.ones(3, device='cuda') * 2")  # fmt: skip
        assert sub.DEVICE.startswith("cuda") and sub.TF32 is False and sub.DET is True
        assert sub.X.device.type == "cuda" and sub.X.tolist() == [2.0, 2.0, 2.0]
    finally:
        box.close()


def test_cuda_request_without_cuda_is_a_one_line_error():
    from autograder.core.notebook import NotebookError
    from autograder.judging.grading import resolve_device

    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda"
        return
    assert resolve_device("auto") == "cpu"
    with pytest.raises(NotebookError, match="no CUDA device"):
        resolve_device("cuda")


@pytest.mark.slow
def test_the_sandbox_seed_says_nothing_of_the_hidden_tests_inputs(tiny_course, tmp_path):
    """What a student can read inside (torch.initial_seed(), NumPy's and Python's generators) is
    drawn from the term's salt, but not from the seed of the hidden tests' `rng`."""
    course = load_course(tiny_course)
    notebook_path = tmp_path / "seeds.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import random, numpy as np, torch\nSEED = torch.initial_seed()\n"
        "NUMPY = float(np.random.random())\nPYTHON = random.random()")]), notebook_path)
    try:
        sub = judge.RemoteNamespace(judge.connect(course, "tiny", notebook_path, "cpu"))
        hidden = course.seed("tiny")
        assert sub.SEED == course.sandbox_seed("tiny") != hidden
        assert sub.NUMPY != np.random.RandomState(hidden % 2**32).random()
        assert sub.PYTHON != __import__("random").Random(hidden).random()
        assert course.sandbox_seed("tiny") == load_course(tiny_course).sandbox_seed("tiny")
    finally:
        judge.shutdown()
