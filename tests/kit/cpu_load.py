"""A background load that keeps every core busy: the proof that verdicts do not depend on how
busy the grading machine is (limits count CPU time; wall time is only a backstop)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

# Spins until its parent (the test process) is gone, so a killed test leaves no load behind.
SPINNER = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""


@contextlib.contextmanager
def cpu_load(per_core: int) -> Iterator[int]:
    """`per_core` pure-Python spinners per core until the block ends (none with $IDLE_MACHINE,
    to measure or debug); yields how many run."""
    if os.environ.get("IDLE_MACHINE"):
        yield 0
        return
    spinners = []
    try:
        for _ in range(per_core * (os.cpu_count() or 1)):
            spinners.append(subprocess.Popen(
                [sys.executable, "-c", SPINNER], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        yield len(spinners)
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()
