"""Hostile and broken Lab 1 submissions, each with the verdict the grader must reach.

Every case is built from the Lab 1 solution notebook with one cell changed (so the cases stay in
sync with the lab), or is a broken file. Function-level attacks fire only on the input of one
hidden test (`np.shape(n) == (7,)`, the sigmoid extremes test, 2 points), so the visible checks
in the notebook still run and the case shows that the other tests are unaffected.
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


def extra_cell(source: str, after: str = "imports") -> Callable:
    def build(nb, path, context):
        nb = copy.deepcopy(nb)
        index = nb.cells.index(_cell(nb, after)) + 1
        nb.cells.insert(index, nbformat.v4.new_code_cell(source.format(**context)))
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


# A flag that turns into lost points when an attack worked: sigmoid gives wrong answers.
LEAK_CHECK = '''
import os
LEAKS = []
for secret in {secrets!r}:
    try:
        with open(secret, "rb") as handle:
            handle.read(10)
        LEAKS.append(secret)
    except OSError:
        pass
    if os.path.exists(secret):
        LEAKS.append(secret)
if os.environ.get("AUTOGRADER_SECRET_PROBE") or any("seed_salt" in v for v in os.environ.values()):
    LEAKS.append("environment")
_real_sigmoid = sigmoid
def sigmoid(n):
    return _real_sigmoid(n) * (0.0 if LEAKS else 1.0)
'''

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

MEMORY_BOMB = '''
def bomb():
    hog = []
    while True:
        hog.append(bytearray(2**26))
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


def cases() -> list[Case]:
    return [
        Case("perfect", unchanged, 50),
        Case("perfect_twin", unchanged, 50),
        Case("loop_in_cell", extra_cell("while True:\n    pass"), 50, note="time limit"),
        Case("long_sleep_in_cell", extra_cell("import time\ntime.sleep(10**6)"), 50,
             note="time limit"),
        Case("fork_bomb", extra_cell(FORK_BOMB), 50),
        # IPython's traceback of the failed cell may keep the memory (as in Jupyter): tests
        # that allocate later can run out of it, and then say so.
        Case("memory_bomb_in_cell", extra_cell(MEMORY_BOMB), ANY, message="memory limit",
             note="MemoryError"),
        Case("gigabyte_print", extra_cell("for _ in range(10_000):\n    print('x' * 100_000)"),
             50),
        Case("os_exit_in_cell", extra_cell("import os\nos._exit(0)"), 0, outcome="crashed",
             message="exit code 0"),
        Case("sys_exit_in_cell", extra_cell("import sys\nsys.exit()"), 50),
        Case("os_exit_in_function", sigmoid_attack("import os\nos._exit(0)"), 48,
             outcome="crashed", message="exit code 0"),
        Case("sys_exit_in_function", sigmoid_attack("import sys\nsys.exit(3)"), 48,
             outcome="error", message="exit"),
        Case("kills_itself", sigmoid_attack("import os, signal\nos.kill(os.getpid(), 9)"), 48,
             outcome="crashed", message="SIGKILL"),
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
             48, outcome="failed"),
        Case("prints_fake_scores", extra_cell(FAKE_SCORES, after="sigmoid_check"), 48,
             outcome="failed"),
        Case("reads_tests_solutions_gradebook", extra_cell(LEAK_CHECK, after="sigmoid_check"), 50,
             isolated_only=True),
        Case("network_connection", extra_cell(NETWORK, after="sigmoid_check"), 50,
             isolated_only=True),
        Case("writes_outside_workdir", extra_cell(WRITES, after="sigmoid_check"), 50),
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
    ]


def expected_json() -> str:
    """The table of cases and expectations (for the README of tests/hostile)."""
    return json.dumps({c.name: {"total": c.total, "outcome": c.outcome, "message": c.message}
                       for c in cases()}, indent=1)  # fmt: skip

