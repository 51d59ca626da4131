"""Benchmark: grading throughput and per-submission overhead, against a fresh Jupyter kernel.

    .venv/bin/python benchmarks/bench_grading.py [--copies 8] [--workers 2] [--baseline 3]
    .venv/bin/python benchmarks/bench_grading.py --lab small [--nbgrader 8]
    .venv/bin/python benchmarks/bench_grading.py --scheduler local:2 [--copies 8] [--baseline 0]

Ours: `autograder.judging.grading.grade_batch` grades N copies of a lab's reference (solutions/;
Lab 1 unless `--lab`) with W workers, into a throw-away gradebook. `--lab small` builds and grades
the six-question NumPy/PyTorch assignment of `small_assignment.py` in a course of its own. Per
submission, overhead = grader wall time for that submission minus the time spent in student code
(the notebook's cells plus the calls the hidden tests make into the sandbox), as measured inside
the sandbox.

Baseline: each copy executed by nbclient in a fresh Jupyter kernel (the usual way to grade a
notebook); overhead = wall time minus the cells' own execution time reported by the kernel. The
baseline does not even run the hidden tests, so it flatters the baseline.

Startup is the time from the call to the start of the first submission's grading (workers,
sandboxes, the reference), first result the time to the end of the first submission's grading,
shutdown the time from the last grade to the return. `--one` times
`autograder grade <lab> one.ipynb` from the shell prompt to the exit (median of 3).

With `--nbgrader N` (nbgrader is a dev dependency), the same lab runs through real nbgrader side by
side: `autograder export nbgrader`, `nbgrader generate_assignment`, then `nbgrader autograde` of N
copies (its batch time, its time per submission after the first, one notebook from the shell,
and its fixed cost: the same command with no submission to grade, shell to exit) against the kit
with one worker. nbgrader gets the copies without their demo cells (the kit
skips them; nbgrader would run them) and has no hidden tests to run, which flatters it.

With `--scheduler`, the same copies are graded twice in one run, by the local pool and on the Dask
cluster (`local:N` starts one here with N workers), so the two throughputs are comparable; then a
"scaling" table for 1,000 Lab 3 submissions, EXTRAPOLATED (not measured on a larger cluster) from
the cluster's measured per-submission dispatch cost and per-worker start, with Lab 3's grading
time per submission from `--lab3-seconds` (default: 40 s, the CPU time of its training test).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab01_rnn_from_scratch"


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat, in clock ticks."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def ours(copies: int, workers: int, folder: Path, scheduler: str | None = None,
         root: Path = ROOT, lab: str = LAB) -> dict:  # fmt: skip
    from autograder.core.config import load_course
    from autograder.intake import collect
    from autograder.judging.grading import grade_batch
    from autograder.judging.local_pool import LocalPool
    from autograder.records.gradebook import Gradebook
    from autograder.sandbox import isolation

    course = load_course(root)
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    for index in range(copies):
        shutil.copy(root / "solutions" / lab / f"{lab}.ipynb", inbox / f"s{index:03d}.ipynb")
    gradebook = Gradebook(f"sqlite:///{folder / 'bench.sqlite'}")
    submissions = collect([inbox], lab, course.timezone, folder)
    executor = LocalPool(workers)
    if scheduler:
        from autograder.distributed.client import DaskCluster

        executor = DaskCluster(scheduler)
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    busy_before, total_before = cpu_jiffies()
    summary = grade_batch(course, lab, submissions, gradebook, progress=False,
                          executor=executor)  # fmt: skip
    busy_after, total_after = cpu_jiffies()
    wall = time.perf_counter() - started
    ended_at = datetime.now(UTC)
    runs = gradebook.latest_runs(lab)
    finished = [_aware(run.finished_at) for run in runs]
    first_start = min(at - timedelta(seconds=run.wall_s) for at, run in zip(finished, runs))
    steady = sorted(runs, key=lambda run: run.finished_at)[workers:]  # after the workers' start
    steady_span = (
        (steady[-1].finished_at - steady[0].finished_at).total_seconds() if len(steady) > 1 else 0
    )
    return {
        "isolation": isolation(),
        "overheads": [run.wall_s - run.student_s for run in runs],
        "student": [run.student_s for run in runs],
        "wall": wall,
        "cores_busy": (busy_after - busy_before) / max(1, total_after - total_before),
        "per_minute": 60 * copies / wall,
        "steady_per_minute": 60 * (len(steady) - 1) / steady_span if steady_span else float("nan"),
        "scores": set(summary.scores.values()),
        "startup": (first_start - started_at).total_seconds(),
        "first_result": (min(finished) - started_at).total_seconds(),
        "shutdown": (ended_at - max(finished)).total_seconds(),
    }


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def shell_seconds(command: list[str], cwd: Path, env: dict | None = None,
                  ok: tuple[int, ...] = (0, 3)) -> float:  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(command[:3])}: {(done.stdout + done.stderr)[-500:]}")
    return time.perf_counter() - started


def one_notebook(folder: Path, repeat: int = 3, root: Path = ROOT, lab: str = LAB) -> float:
    """`autograder grade <lab> one.ipynb`, shell to exit (median of `repeat`)."""
    folder.mkdir(parents=True)
    notebook = folder / "one.ipynb"
    shutil.copy(root / "solutions" / lab / f"{lab}.ipynb", notebook)
    autograder = str(Path(sys.executable).with_name("autograder"))
    return statistics.median(
        shell_seconds([autograder, "grade", lab, str(notebook), "--workers", "1", "--force",
                       "--db", f"sqlite:///{folder}/one-{index}.sqlite"], root)
        for index in range(repeat))  # fmt: skip


def nbgrader_side_by_side(copies: int, folder: Path, root: Path = ROOT, lab: str = LAB,
                          fixed_cost: bool = True) -> dict:  # fmt: skip
    """Real nbgrader on the same lab: batch, per submission and one notebook, and with
    `fixed_cost` its run with nothing to grade."""
    import nbformat

    from autograder.core.config import load_course
    from autograder.exports.nbgrader_course import export_nbgrader

    export_nbgrader(load_course(root), lab, folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    shell_seconds([nbgrader, "generate_assignment", lab, "--force"], folder, env)
    # A student's copy of nbgrader's own release (its cell metadata and checksums) with the
    # solutions filled in.
    solved = nbformat.read(root / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    answers = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source
               for cell in solved.cells if cell.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(folder / "release" / lab / f"{lab}.ipynb", as_version=4)
    nb.cells = [cell for cell in nb.cells if "demo" not in cell.metadata.get("tags", [])]
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    for index in range(copies):
        target = folder / "submitted" / f"s{index:03d}" / lab / f"{lab}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    batch = shell_seconds([nbgrader, "autograde", lab, "--create"], folder, env)
    one = statistics.median(
        shell_seconds([nbgrader, "autograde", lab, "--student", "s000", "--force"], folder, env)
        for _ in range(3))  # fmt: skip
    per_submission = (batch - one) / max(1, copies - 1)
    # its fixed cost alone: the same command with no submission to grade (it exits with an error
    # after its start), shell to exit, so its exit is counted too
    nothing = statistics.median(
        shell_seconds([nbgrader, "autograde", lab, "--student", "nobody"], folder, env, ok=(0, 1))
        for _ in range(3)) if fixed_cost else math.nan  # fmt: skip
    return {"batch": batch, "per_submission_est": per_submission, "one": one,
            "startup_est": one - per_submission, "nothing": nothing}  # fmt: skip


def baseline(copies: int, root: Path = ROOT, lab: str = LAB) -> dict:
    import nbformat
    from nbclient import NotebookClient

    overheads, walls = [], []
    for _ in range(copies):
        nb = nbformat.read(str(root / "solutions" / lab / f"{lab}.ipynb"), as_version=4)
        nb.cells = [c for c in nb.cells if "demo" not in c.get("metadata", {}).get("tags", [])]
        with tempfile.TemporaryDirectory() as workdir:
            client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": workdir}},
                                    record_timing=True)  # fmt: skip
            started = time.perf_counter()
            client.execute()
            wall = time.perf_counter() - started
        in_cells = 0.0
        for cell in nb.cells:
            timing = cell.get("metadata", {}).get("execution", {})
            if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
                begin = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                in_cells += (end - begin).total_seconds()
        walls.append(wall)
        overheads.append(wall - in_cells)
    return {"overheads": overheads, "walls": walls, "per_minute": 60 / statistics.mean(walls)}


def describe(result: dict, label: str) -> str:
    over = result["overheads"]
    return (f"{label}: startup {result['startup']:.2f} s before the first submission, first "
            f"result after {result['first_result']:.2f} s, shutdown "
            f"{result['shutdown']:.2f} s after the last; "
            f"median overhead {statistics.median(over):.2f} s per submission "
            f"(min {min(over):.2f}, max {max(over):.2f}); median student-code time "
            f"{statistics.median(result['student']):.2f} s; {result['per_minute']:.1f} "
            f"submissions/minute including worker start, {result['steady_per_minute']:.1f} in "
            f"steady state; all cores {100 * result['cores_busy']:.0f}% busy; "
            f"scores {sorted(result['scores'])}")  # fmt: skip


def dispatch_seconds(scheduler: str, rounds: int = 30) -> float:
    """The cluster's own cost per submission, measured: the median round trip of one task that
    carries a Lab 1 notebook's bytes to a worker and brings a small answer back, one task in
    flight at a time (a grading worker waits this long between two submissions)."""
    from autograder.distributed.client import cluster_client

    notebook = (ROOT / "solutions" / LAB / f"{LAB}.ipynb").read_bytes()
    times = []
    with cluster_client(scheduler) as client:
        client.submit(len, notebook, pure=False).result()  # the first task warms the connections
        for _ in range(rounds):
            started = time.perf_counter()
            client.submit(len, notebook, pure=False).result()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def scaling_table(cluster: dict, workers: int, copies: int, dispatch: float,
                  lab3_seconds: float) -> list[str]:  # fmt: skip
    """Hours for 1,000 Lab 3 submissions with W workers, extrapolated: each submission costs its
    grading time plus the measured dispatch cost, and each worker pays its start once (what the
    cluster run took beyond its steady state)."""
    per_task = workers * 60 / cluster["steady_per_minute"]
    start = max(0.0, cluster["wall"] - copies * per_task / workers)
    lines = [f"scaling (EXTRAPOLATED from this run, not measured on a larger cluster): 1,000 "
             f"Lab 3 submissions at {lab3_seconds:g} s each, + {1000 * dispatch:.0f} ms "
             f"dispatch per submission (measured), + {start:.0f} s worker start (measured)",
             "  workers   wall time   submissions/hour"]  # fmt: skip
    for count in (2, 8, 32, 128, 512):
        total = start + math.ceil(1000 / count) * (lab3_seconds + dispatch)
        lines.append(f"  {count:7d}   {total / 3600:6.2f} h   {3600 * 1000 / total:12.0f}")
    return lines


def each_lab() -> int:
    """One notebook end to end (the lab's reference, shell to exit, median of 3), kit against
    nbgrader, for the small assignment and each lab of this course."""
    from small_assignment import build

    from autograder.core.config import load_course

    print(f"machine: {os.cpu_count()} cores; one notebook end to end, shell to exit, median of 3")
    with tempfile.TemporaryDirectory(prefix="bench-each-lab-") as scratch:
        labs = [(build(Path(scratch) / "small-course"), "small")]
        labs += [(ROOT, lab) for lab in load_course(ROOT).labs]
        for root, lab in labs:
            folder = Path(scratch) / lab
            kit = one_notebook(folder / "kit", root=root, lab=lab)
            theirs = nbgrader_side_by_side(1, folder / "nbgrader", root=root, lab=lab,
                                           fixed_cost=False)["one"]
            print(f"  {lab:<32} kit {kit:6.1f} s   nbgrader {theirs:6.1f} s   "
                  f"kit/nbgrader {kit / theirs:.2f}x (goal: at most 3x)")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--lab", default=LAB,
                        help=f"a lab of this course, or `small` (default: {LAB})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline", type=int, default=3, help="copies for the baseline (0: skip)")
    parser.add_argument("--scheduler", default=None,
                        help="also grade on this Dask cluster (local:N, or tcp://host:8786 with "
                        "--workers set to its number of worker processes)")
    parser.add_argument("--lab3-seconds", type=float, default=40.0,
                        help="grading time of one Lab 3 submission, for the scaling table")
    parser.add_argument("--one", action="store_true",
                        help="time one notebook end to end (autograder grade, shell to exit)")
    parser.add_argument("--nbgrader", type=int, default=0,
                        help="copies for a side-by-side run of real nbgrader (0: skip)")
    parser.add_argument("--each-lab", action="store_true",
                        help="only: one notebook end to end, kit against nbgrader, for the small "
                        "assignment and every lab of this course")
    args = parser.parse_args()
    if args.each_lab:
        return each_lab()
    local = re.fullmatch(r"local:(\d+)", args.scheduler or "")
    workers = int(local.group(1)) if local else args.workers
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        root, lab = ROOT, args.lab
        if lab == "small":
            from small_assignment import LAB as lab
            from small_assignment import build

            root = build(Path(scratch) / "small-course")
        where = {"root": root, "lab": lab}
        result = ours(args.copies, workers, Path(scratch) / "pool", **where)
        cluster = ours(args.copies, workers, Path(scratch) / "cluster", args.scheduler, **where) \
            if args.scheduler else None
        single = ours(args.copies, 1, Path(scratch) / "single", **where) if args.nbgrader else None
        one = one_notebook(Path(scratch) / "one", **where) if args.one or args.nbgrader else None
        theirs = nbgrader_side_by_side(args.nbgrader, Path(scratch) / "nbgrader", **where) \
            if args.nbgrader else None
        base = baseline(args.baseline, **where) if args.baseline else None
    print(f"machine: {os.cpu_count()} cores; sandbox: {result['isolation']}; "
          f"{args.copies} copies of the {lab} reference, {workers} workers")  # fmt: skip
    print(describe(result, "autograder, local pool"))
    if cluster:
        ratio = cluster["steady_per_minute"] / result["steady_per_minute"]
        print(describe(cluster, f"autograder, Dask cluster {args.scheduler}"))
        print(f"cluster/local pool steady-state throughput: {100 * ratio:.0f}% "
              f"(goal: at least 90%)")  # fmt: skip
        dispatch = dispatch_seconds(args.scheduler)
        print(f"cluster dispatch: median {1000 * dispatch:.1f} ms per task (round trip of one "
              f"notebook's bytes, one task in flight)")  # fmt: skip
        for line in scaling_table(cluster, workers, args.copies, dispatch, args.lab3_seconds):
            print(line)
    if one is not None:
        print(f"one notebook end to end (autograder grade {lab} one.ipynb, shell to exit): "
              f"{one:.1f} s")  # fmt: skip
    if theirs:
        print(describe(single, "autograder, 1 worker"))
        print(f"nbgrader autograde, {args.nbgrader} copies (no demo cells, no hidden tests): "
              f"{theirs['batch']:.1f} s in all, about {theirs['per_submission_est']:.2f} s per "
              f"submission after the first, so about {theirs['startup_est']:.1f} s to start; one "
              f"notebook, shell to exit: {theirs['one']:.1f} s; with nothing to grade, shell to "
              f"exit: {theirs['nothing']:.1f} s")
        print(f"side by side: kit 1 worker {single['wall']:.1f} s for {args.copies} vs nbgrader "
              f"{theirs['batch']:.1f} s; startup: kit {single['startup']:.1f} s, nbgrader "
              f"{theirs['nothing']:.1f} s with nothing to grade (about {theirs['startup_est']:.1f} "
              f"s by the batch's arithmetic); one notebook: kit {one:.1f} s = "
              f"{one / theirs['one']:.1f}x nbgrader (goal: at most 3x)")  # fmt: skip
    if base:
        print(f"fresh Jupyter kernel (nbclient, notebook only, no tests): median overhead "
              f"{statistics.median(base['overheads']):.2f} s per submission; "
              f"{base['per_minute']:.1f} submissions/minute on one core")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
