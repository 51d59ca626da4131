"""How much a submission's processes ran, and how long they slept, read from /proc.

Limits count CPU time, so that a busy machine does not change a verdict; wall time is only a
backstop against code that sleeps. Both are read here from the kernel's own accounting, which the
submission cannot change:

- CPU time: `utime + stime` of /proc/<pid>/stat, for every process of the submission;
- the backstop's clock: the time in which no task of the submission was running or waiting to
  run (its run-queue wait, from /proc/<pid>/task/<tid>/schedstat, is the machine's load, not its
  fault). A CPU-bound submission on a loaded machine is running or runnable all the time, so its
  clock stands still; one that sleeps (or blocks) advances it at the speed of the wall clock.

The grader reads these from outside the sandbox (`Window`), so a child that switches off its own
timers, raises its soft limits or replaces the harness's helpers still meets them; the child reads
the same clock for its own processes to end a sleeping cell with a clear message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from autograder.core.processes import stat_fields

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL_S = 0.5  # how often a long wait for a submission looks at its processes


def process_cpu_seconds(pid: int, with_children: bool = True) -> float | None:
    """CPU time of process `pid` (all its threads), with that of the children it has waited for."""
    fields = stat_fields(pid)
    if fields is None or len(fields) < 15:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def namespace_depth(pid: int) -> int:
    """How many pid namespaces `pid` is in, counted from this /proc's (1 for the same one)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return len(line.split()) - 1
    except OSError:
        pass
    return 0


def _task_busy_ns(pid: int) -> dict[int, int] | None:
    """Per thread of `pid`: nanoseconds it ran plus nanoseconds it waited to run; None when the
    kernel keeps no schedstat."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    busy = {}
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                ran, waited = handle.read().split()[:2]
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread just ended
            return None
        except (OSError, ValueError):
            continue
        busy[int(tid)] = int(ran) + int(waited)
    return busy


@dataclass
class Ledger:
    """Running totals over processes that come and go: what a process or thread that ended had
    used stays counted at its last reading."""

    cpu: dict[tuple[int, str], float] = field(default_factory=dict)  # (pid, start time) -> s
    busy: dict[tuple[int, int, str], int] = field(default_factory=dict)  # (pid, tid, start) -> ns
    schedstat: bool = True  # False: the kernel keeps no run-queue figures here

    def read(self, pids: list[int]) -> tuple[float, float]:
        """(CPU seconds, running-or-waiting seconds) of everything seen so far."""
        for pid in pids:
            fields = stat_fields(pid)
            if fields is None or len(fields) < 20:
                continue
            start = fields[19]
            self.cpu[(pid, start)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            tasks = _task_busy_ns(pid)
            if tasks is None:
                self.schedstat = False
                continue
            for tid, busy in tasks.items():
                self.busy[(pid, tid, start)] = busy
        return sum(self.cpu.values()), sum(self.busy.values()) / 1e9


@dataclass
class Window:
    """One limit's window over a submission's processes: `check()` says when it has used more
    than `cpu_limit` s of CPU time or slept more than `idle_limit` s (see the module docstring).

    Measured from the first check on (a wait shorter than POLL_S never reads /proc);
    `cpu_before` and `idle_before` carry what earlier parts of the same limit used."""

    cpu_limit: float
    idle_limit: float
    processes: Callable[[], list[int]]
    cpu_before: float = 0.0
    idle_before: float = 0.0
    ledger: Ledger = field(default_factory=Ledger)
    baseline: tuple[float, float, float] | None = None  # (time, cpu, busy) at the first check
    started: float = field(default_factory=time.monotonic)
    cpu_used: float = 0.0
    idle: float = 0.0

    def check(self) -> str | None:
        """None, or "cpu" / "idle" for the limit that was passed."""
        cpu, busy = self.ledger.read(self.processes())
        now = time.monotonic()
        if self.baseline is None:
            self.baseline = (now, cpu, busy)
            return None
        then, cpu_then, busy_then = self.baseline
        self.cpu_used = self.cpu_before + cpu - cpu_then
        if self.ledger.schedstat:
            self.idle = self.idle_before + max(0.0, (now - then) - (busy - busy_then))
        else:  # no run-queue figures: the wall clock since the window opened, as a last resort
            self.idle = self.idle_before + now - self.started
        if self.cpu_used > self.cpu_limit:
            return "cpu"
        if self.idle > self.idle_limit:
            return "idle"
        return None
