"""Before a Gradescope autograder is uploaded: run it here as Gradescope will, and measure it.

`check_gradescope_zip` unpacks the zip into a folder laid out as Gradescope's `/autograder`
(`source/` the zip, `submission/` the lab's solution notebook, `results/`), runs `run_autograder`
with this machine's Python (the pinned packages setup.sh installs, and the kit as installed here:
the code the zip holds), and measures:

- the memory of every process the run starts, together: the largest sum of their proportional
  set sizes (PSS: a page shared by several processes counts once in all), sampled every
  `SAMPLE_S`; Gradescope's container limit (768 MB unless the assignment's "Autograder Settings"
  raise it) counts the same pages, so a lab that needs more than its setting is refused;
- the wall time and the CPU time of the run (its processes, summed).

The solution must score full marks: a zip that does not grade it right is refused too.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.core.config import CONFIG_FILE, Course
from autograder.core.errors import UserError
from autograder.core.processes import descendants

SAMPLE_S = 0.05
GRADESCOPE_DEFAULT_MEMORY_MB = 768  # Gradescope's documented default for a container
GRADESCOPE_DEFAULT_CPUS = 0.5  # each autograder gets half a virtual CPU unless raised
GRADESCOPE_DEFAULT_TIMEOUT_S = 600
# Headroom over the measured peak: a short spike between two samples, and the page cache
# Gradescope's container also counts.
MEMORY_MARGIN = 1.25
MEMORY_STEP_MB = 256
RUN_TIMEOUT_S = 1800


class GradescopeCheckError(UserError):
    """A Gradescope autograder that would fail there, said in one line with the figure."""


@dataclass(frozen=True)
class RunFigures:
    """One run of `run_autograder` on one notebook."""

    seconds: float  # wall time
    cpu_seconds: float  # user and system time of all its processes
    peak_mb: float  # the largest sum of their PSS
    score: float
    results: dict

    @property
    def sandbox(self) -> str:
        return str(self.results.get("extra_data", {}).get("sandbox", "unknown"))


def _memory_kb(pid: int) -> int:
    """A process's PSS in kB (its resident size where PSS cannot be read), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def _cpu_ticks(pid: int) -> int:
    """A process's user and system time so far, in clock ticks (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (name) ": state is field 3
        return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    except (OSError, ValueError, IndexError):
        return 0


class _Sampler(threading.Thread):
    """Samples a process and all its descendants until told to stop: the largest sum of their
    memory, and the CPU time each has used (a process's last sample counts once it is gone:
    those that die unwaited-for never reach the parent's rusage)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.ticks: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree = [self.pid, *descendants(self.pid)]
            self.peak_kb = max(self.peak_kb, sum(_memory_kb(pid) for pid in tree))
            for pid in tree:
                self.ticks[pid] = max(self.ticks.get(pid, 0), _cpu_ticks(pid))
            self.done.wait(SAMPLE_S)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def lay_out_as_gradescope(archive: Path, root: Path) -> Path:
    """`root` laid out as Gradescope's /autograder: the zip in source/ (with the modes `unzip`
    restores), empty submission/ and results/."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            path = zipped.extract(info, root / "source")
            os.chmod(path, (info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path, notebook: Path, python: str = sys.executable) -> RunFigures:
    """Submit `notebook` to the autograder laid out in `root`, run it, and measure it."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    shutil.copy(notebook, root / "submission" / notebook.name)
    started = time.monotonic()
    process = subprocess.Popen(
        [str(root / "source" / "run_autograder")], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=root,
        env={**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python},
    )  # fmt: skip
    sampler = _Sampler(process.pid)
    sampler.start()
    watchdog = threading.Timer(RUN_TIMEOUT_S, process.kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)  # usage sums every process it waited for
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
    finally:
        watchdog.cancel()
        sampler.done.set()
        sampler.join()
    seconds = time.monotonic() - started
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    cpu = max(usage.ru_utime + usage.ru_stime, sampler.cpu_seconds)
    return RunFigures(seconds, cpu, sampler.peak_kb / 1024, float(results.get("score", 0)),
                      results)  # fmt: skip


def solution_notebook(course: Course, lab_id: str) -> Path:
    """The executed solution when released, else the source notebook (the same answers)."""
    executed = course.solutions_dir(lab_id) / f"{lab_id}.ipynb"
    return executed if executed.is_file() else course.lab(lab_id).notebook


def memory_to_set(peak_mb: float) -> int:
    """The container memory to ask Gradescope for: the peak with headroom, in 256 MB steps."""
    return max(GRADESCOPE_DEFAULT_MEMORY_MB,
               math.ceil(peak_mb * MEMORY_MARGIN / MEMORY_STEP_MB) * MEMORY_STEP_MB)  # fmt: skip


def measure_zip(course: Course, lab_id: str, archive: Path) -> RunFigures:
    """Run the zip on the lab's solution in a scratch /autograder and measure it."""
    with tempfile.TemporaryDirectory(prefix="autograder-gradescope-check-") as scratch:
        root = lay_out_as_gradescope(archive, Path(scratch) / "autograder")
        return run_autograder(root, solution_notebook(course, lab_id))


def check_gradescope_zip(course: Course, lab_id: str, archive: Path) -> list[str]:
    """Lines saying what the zip needs on Gradescope; `GradescopeCheckError` when it would
    not grade the solution right or needs more memory than the lab's Gradescope setting."""
    lab = course.lab(lab_id)
    figures = measure_zip(course, lab_id, archive)
    setting = f"{lab.config_key}.gradescope.memory_mb"
    if figures.score != lab.points:
        raise GradescopeCheckError(
            f"{lab_id}: the autograder graded the solution {figures.score:g}/{lab.points:g} "
            f"here, not full marks: {figures.results.get('output', '')[:300]!r}")
    needed = memory_to_set(figures.peak_mb)
    if needed > lab.gradescope_memory_mb:
        default = " (Gradescope's default)" \
            if lab.gradescope_memory_mb == GRADESCOPE_DEFAULT_MEMORY_MB else ""  # fmt: skip
        raise GradescopeCheckError(
            f"{lab_id}: run_autograder peaked at {figures.peak_mb:.0f} MB grading the solution "
            f"here, too close to or over the {lab.gradescope_memory_mb} MB the lab is set to"
            f"{default}: raise the assignment's memory on Gradescope (Settings > Autograder "
            f"Settings) to {needed} MB or more, and set {setting} = {needed} in {CONFIG_FILE}")
    at_gradescope = figures.cpu_seconds / GRADESCOPE_DEFAULT_CPUS
    lines = [f"checked: run_autograder graded the solution {figures.score:g}/{lab.points:g} in "
             f"{figures.seconds:.0f} s ({figures.cpu_seconds:.0f} s of CPU), peak memory "
             f"{figures.peak_mb:.0f} MB, sandbox {figures.sandbox}"]  # fmt: skip
    if lab.gradescope_memory_mb > GRADESCOPE_DEFAULT_MEMORY_MB:
        lines.append(f"on Gradescope: set the assignment's memory (Settings > Autograder "
                     f"Settings) to {lab.gradescope_memory_mb} MB, as {setting} says")  # fmt: skip
    else:
        lines.append(f"on Gradescope: fits its default {GRADESCOPE_DEFAULT_MEMORY_MB} MB")
    if at_gradescope > GRADESCOPE_DEFAULT_TIMEOUT_S / 2:
        lines.append(f"on Gradescope: about {at_gradescope:.0f} s at its default half CPU, "
                     f"near its {GRADESCOPE_DEFAULT_TIMEOUT_S // 60}-minute limit: raise the "
                     "CPUs or the timeout in Autograder Settings")  # fmt: skip
    return lines
