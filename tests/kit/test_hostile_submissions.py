"""Hostile and broken submissions, graded end to end in one batch with correct ones.

For each case of tests/hostile/hostile_cases.py: the grader does not crash, the batch completes,
the correct submissions keep full marks, and the verdict and message are the expected ones.

The batch is also the proof that no submission changes another one's grade: it is graded by one
worker, in an order where each case that attacks other submissions (those with a `victim`) is
followed at once by its victim, and the victim must get exactly the grade it gets alone (its
first copy, graded before any attacker). The attacker never gets more than the same notebook
without the attack. The grader must end cleanly (nothing it started left running), and grading
the same inputs again must grade nothing.

The whole batch runs while every core is kept busy by spinning processes (2 per core), and the
expectations are those of an idle machine: verdicts must not depend on the load.

It is graded twice: under bubblewrap (every case), and with the limits only (the cases marked
`both_modes`: what a submission can leave on a machine it shares, and the limits it can try to
switch off), with their victims. After each batch nothing of a sandbox uid may be left on the
machine: no process, no file in the shared folders, no System V IPC object.

The course is a copy of the real one with short time limits, so that endless loops cost seconds.
`HOSTILE_CASES=name1,name2` grades only those cases (and the victims they need);
`HOSTILE_MODES=bwrap` (or `limits only`) grades one batch; `IDLE_MACHINE=1` grades without the
background load (to measure, or to debug).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import runpy
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.core.config import load_course
from autograder.intake import collect
from autograder.judging.grading import BatchSummary, grade_batch
from autograder.records.gradebook import Gradebook

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "hostile"))

from cpu_load import cpu_load  # noqa: E402
from hostile_cases import ANY, LAB, Case  # noqa: E402
from hostile_cases import cases as all_cases  # noqa: E402

EXTREMES = "test_sigmoid_is_stable_at_extremes"
PR_SET_CHILD_SUBREAPER = 36
SETTLE_S = 30.0  # how long what the batch started may take to end once it returned
# A pure-Python busy loop that ends once its parent (this test process) is gone, even killed.
MODES = [mode for mode in ("bwrap", "limits only")
         if os.environ.get("HOSTILE_MODES", mode) in (mode, "")]  # fmt: skip


def cases(mode: str = "bwrap") -> list[Case]:
    """The cases of `mode`'s batch, or those named in $HOSTILE_CASES (for debugging one)."""
    wanted = {name for name in os.environ.get("HOSTILE_CASES", "").split(",") if name}
    return [case for case in all_cases() if (not wanted or case.name in wanted)
            and (mode == "bwrap" or case.both_modes)]  # fmt: skip


def attackers() -> list[Case]:
    return [case for case in cases() if case.victim]


@dataclass(frozen=True)
class Entry:
    """One submission of the batch: its student id (which orders the batch), its case, and for a
    victim graded right after an attacker, that attacker's name."""

    student: str
    case: Case
    after: str | None = None


def batch_order(selected: list[Case]) -> list[Entry]:
    """The victims alone first (their reference grade), then every case, each attacker followed
    at once by its victim. `collect` orders submissions by student id: a number comes first."""
    table = {case.name: case for case in all_cases()}
    victims = [table[name] for name in dict.fromkeys(c.victim for c in selected if c.victim)]
    order: list[tuple[Case, str | None]] = []
    for case in victims + [case for case in selected if case not in victims]:
        order.append((case, None))
        if case.victim:
            order.append((table[case.victim], case.name))
    return [Entry(f"{index:03d}_{case.name}" + (f"_after_{after}" if after else ""), case, after)
            for index, (case, after) in enumerate(order)]  # fmt: skip


def make_course(root: Path, **limits: object) -> Path:
    """A copy of the course (Lab 1 only) with its limits replaced by `limits`."""
    data = runpy.run_path(str(REPO / "course_config.py"))["COURSE"]
    data["defaults"].update(limits)
    data["labs"] = [lab for lab in data["labs"] if lab["id"] == LAB]
    root.mkdir(parents=True, exist_ok=True)
    (root / "course_config.py").write_text(f"COURSE = {data!r}\n")
    for part in (f"source/{LAB}", f"tests/{LAB}", f"solutions/{LAB}"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "tests" / "conftest.py", root / "tests" / "conftest.py")
    return root


# ------------------------------------------------------------------ load and leftovers


def _children() -> dict[int, str]:
    """This process's children: pid -> state (R, S, Z, ...)."""
    me, found = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == me:
                    found[int(entry)] = fields[0]
            except (OSError, ValueError, IndexError):
                pass
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


@contextlib.contextmanager
def adopting_leftovers() -> Iterator[list[str]]:
    """While the block runs this process is a child subreaper: whatever the batch leaves running
    (its workers, their sandboxes, what those started) becomes a child of ours when its parent
    ends. Once the block is over the list holds such processes still running after SETTLE_S
    (none may be); they are then killed."""
    libc = ctypes.CDLL(None, use_errno=True)
    before = set(_children())
    left: list[str] = []
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield left
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

        def new_children() -> dict[int, str]:
            found = {pid: state for pid, state in _children().items() if pid not in before
                     and "resource_tracker" not in _command_line(pid)}  # fmt: skip
            for pid, state in found.items():
                if state == "Z":  # an adopted process that ended: ours to reap
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
            return {pid: state for pid, state in found.items() if state != "Z"}

        deadline = time.monotonic() + SETTLE_S
        running = new_children()
        while running and time.monotonic() < deadline:
            time.sleep(0.2)
            running = new_children()
        for pid in running:
            left.append(f"{pid}: {_command_line(pid)}")
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        for pid in running:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


# ------------------------------------------------------------------ the batch


@dataclass
class Graded:
    summary: BatchSummary
    rerun: BatchSummary
    runs: dict[str, Any]  # student id -> latest run in the gradebook
    entries: list[Entry]
    targets: list[str]
    leftovers: list[str]
    wall_s: float
    load: int
    mode: str

    def run_of(self, case_name: str) -> Any:
        """The run of the case itself (not of a copy graded as a victim)."""
        entry = next((e for e in self.entries if e.case.name == case_name and e.after is None),
                     None)  # fmt: skip
        if entry is None:
            pytest.skip(f"not in the batch graded with {self.mode}")
        return self.runs[entry.student]


SANDBOX_UIDS = range(1_900_000_000, 1_900_065_536)  # autograder.sandbox.DEFAULT_UID_RANGE


def sandbox_traces() -> set[str]:
    """What of any sandbox uid is on the machine besides processes (which `adopting_leftovers`
    finds, being our descendants'): files in the shared folders, System V IPC objects by owner
    or creator."""
    from autograder.sandbox.cleanup import _ipc_table

    found = set()
    for kind in ("shm", "sem", "msg"):
        for row in _ipc_table(kind):
            if any(int(row.get(key, -1)) in SANDBOX_UIDS for key in ("uid", "cuid")):
                found.add(f"{kind} {row}")
    for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            with contextlib.suppress(OSError):
                if os.lstat(os.path.join(folder, name)).st_uid in SANDBOX_UIDS:
                    found.add(os.path.join(folder, name))
    return found


@pytest.fixture(scope="module", params=MODES)
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Graded:
    from autograder.sandbox import bwrap_works

    mode = request.param
    if mode == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap is not available here: the batch with the limits only runs")
    base = tmp_path_factory.mktemp("hostile")
    root = make_course(base / "course", cell_timeout_s=6, notebook_timeout_s=90,
                       test_timeout_s=8, memory_mb=2048)  # fmt: skip
    course = load_course(root)
    inbox = base / "inbox"
    inbox.mkdir()
    selected = cases(mode)
    entries = batch_order(selected)
    solution = nbformat.read(str(root / "solutions" / LAB / f"{LAB}.ipynb"), as_version=4)
    db_path = base / "gradebook.sqlite"
    secrets = [str(p) for p in (
        root / "tests" / LAB / "test_lab01_simple_rnn.py", root / "source" / LAB / f"{LAB}.ipynb",
        root / "solutions" / LAB / f"{LAB}.ipynb", root / "course_config.py", db_path,
        inbox / f"{entries[0].student}.ipynb", REPO / "tests" / LAB / "lab01_helpers.py",
        REPO / "course_config.py",
    )]  # fmt: skip
    # what no other uid may read: the temporary course (below pytest's folder, root's alone)
    private = [*secrets[:5], "/etc/shadow"]
    targets = [str(root / "pwned.txt"), str(inbox / "pwned.txt"), str(REPO / "pwned.txt"),
               "/etc/pwned.txt", str(Path.home() / "pwned.txt")]  # fmt: skip
    for target in targets:  # left by an earlier run that had no sandbox to stop it
        Path(target).unlink(missing_ok=True)
    context = {"secrets": secrets, "targets": targets, "private": private,
               "hidden_seed": course.seed(LAB)}  # fmt: skip
    for entry in entries:
        entry.case.build(solution, inbox / f"{entry.student}.ipynb", context)
    gradebook = Gradebook(f"sqlite:///{db_path}")
    submissions = collect([inbox], LAB, course.timezone, base)
    assert [s.student for s in submissions] == [e.student for e in entries]  # the grading order
    saved = os.environ.get("AUTOGRADER_NO_BWRAP")
    if mode != "bwrap":
        os.environ["AUTOGRADER_NO_BWRAP"] = "1"
    traces_before = sandbox_traces()  # another grader's on this machine, not this batch's
    try:
        with cpu_load(per_core=2) as load, adopting_leftovers() as leftovers:
            started = time.monotonic()
            summary = grade_batch(course, LAB, submissions, gradebook, workers=1, progress=False)
            wall_s = time.monotonic() - started
        rerun = grade_batch(course, LAB, submissions, gradebook, workers=1, progress=False)
    finally:
        os.environ.pop("AUTOGRADER_NO_BWRAP", None)
        if saved is not None:
            os.environ["AUTOGRADER_NO_BWRAP"] = saved
    runs = {run.submission.student.student_id: run for run in gradebook.latest_runs(LAB)}
    print(f"\nhostile batch ({mode}): {len(entries)} submissions in {wall_s:.0f} s "
          f"({'idle' if not load else f'{load} spinning processes'})")  # fmt: skip
    for entry in entries:  # shown with -s
        run = runs.get(entry.student)
        print(f"  {entry.student}: {total_of(run) if run else 'no record'}")
    leftovers += sorted(sandbox_traces() - traces_before)
    return Graded(summary, rerun, runs, entries, targets, leftovers, wall_s, load, mode)


def describe(run: Any) -> str:
    return "; ".join(f"{r.name}: {r.outcome}: {r.message}" for r in run.results
                     if r.outcome != "passed")[:2000]  # fmt: skip


def total_of(run: Any) -> float:
    return sum(result.points_earned for result in run.results)


@pytest.mark.slow
def test_batch_completes_with_every_submission(graded):
    assert sorted(graded.runs) == sorted(entry.student for entry in graded.entries)
    assert not graded.summary.faults, graded.summary.faults
    assert graded.summary.graded == len(graded.entries)
    for target in graded.targets:
        assert not Path(target).exists(), f"a submission wrote {target}"


@pytest.mark.slow
def test_the_grader_ends_cleanly_and_a_rerun_grades_nothing(graded):
    """Nothing the batch started still runs, and nothing of a sandbox uid is on the machine."""
    assert graded.leftovers == [], "left after the batch: " + "; ".join(graded.leftovers)
    rerun = graded.rerun
    assert (rerun.graded, rerun.invalid, rerun.skipped) == (0, 0, len(graded.entries))
    assert not rerun.outcomes


@pytest.mark.slow
@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_verdict(graded, case):
    run = graded.run_of(case.name)
    if case.isolated_only and run.sandbox != "bwrap":
        pytest.skip("graded with limits only: no filesystem or network isolation to test")
    if case.name == "reads_private_files" and run.sandbox != "bwrap" and os.getuid() != 0:
        pytest.skip("limits only without root: the sandbox runs as the grader's own uid")
    total = total_of(run)
    by_name = {result.name: result for result in run.results}
    described = describe(run)
    if case.total == ANY:
        assert all(case.message in r.message for r in run.results if r.outcome != "passed"), (
            described)
    elif case.total is None:
        assert total < 50, described
    else:
        assert total == case.total, described
    if case.outcome:
        assert by_name[EXTREMES].outcome == case.outcome, described
    if case.message and case.total != ANY:
        messages = [by_name[EXTREMES].message] if case.outcome else [
            r.message for r in run.results]
        assert any(case.message in message for message in messages), described
    if case.note:
        assert case.note in run.notebook_notes, run.notebook_notes
    for result in run.results:
        assert "def test_" not in result.message and "assert " not in result.message


@pytest.mark.slow
@pytest.mark.parametrize("attacker", attackers(), ids=lambda case: case.name)
def test_the_victim_graded_next_keeps_its_grade(graded, attacker):
    """The victim graded right after `attacker` gets exactly what it gets alone, test by test,
    and the attacker no more than that (every victim is the Lab 1 solution, the attacker's
    notebook without its attack)."""
    victim = next((e for e in graded.entries if e.after == attacker.name), None)
    if victim is None:
        pytest.skip(f"not in the batch graded with {graded.mode}")
    run, alone = graded.runs[victim.student], graded.run_of(victim.case.name)
    assert total_of(alone) == victim.case.total, describe(alone)  # the reference itself is right
    assert total_of(graded.run_of(attacker.name)) <= total_of(alone)
    earned = {r.name: (r.outcome, r.points_earned) for r in run.results}
    assert earned == {r.name: (r.outcome, r.points_earned) for r in alone.results}, describe(run)
