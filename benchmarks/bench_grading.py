"""Benchmark: grading throughput and per-submission overhead, against a fresh Jupyter kernel.

    .venv/bin/python benchmarks/bench_grading.py [--copies 8] [--workers 2] [--baseline 3]

Ours: `autograder.grading.grade_batch` grades N copies of the Lab 1 reference (solutions/)
with W workers, into a throw-away gradebook. Per submission, overhead = grader wall time for
that submission minus the time spent in student code (the notebook's cells plus the calls the
hidden tests make into the sandbox), as measured inside the sandbox.

Baseline: each copy executed by nbclient in a fresh Jupyter kernel (the usual way to grade a
notebook); overhead = wall time minus the cells' own execution time reported by the kernel. The
baseline does not even run the hidden tests, so it flatters the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab01_rnn_from_scratch"


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat, in clock ticks."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def ours(copies: int, workers: int, folder: Path) -> dict:
    from autograder.config import load_course
    from autograder.gradebook import Gradebook
    from autograder.grading import grade_batch
    from autograder.intake import collect
    from autograder.sandbox import isolation

    course = load_course(ROOT)
    inbox = folder / "inbox"
    inbox.mkdir()
    for index in range(copies):
        shutil.copy(ROOT / "solutions" / LAB / f"{LAB}.ipynb", inbox / f"s{index:03d}.ipynb")
    gradebook = Gradebook(f"sqlite:///{folder / 'bench.sqlite'}")
    submissions = collect([inbox], LAB, course.timezone, folder)
    started = time.perf_counter()
    busy_before, total_before = cpu_jiffies()
    summary = grade_batch(course, LAB, submissions, gradebook, workers=workers, progress=False)
    busy_after, total_after = cpu_jiffies()
    wall = time.perf_counter() - started
    runs = gradebook.latest_runs(LAB)
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
    }


def baseline(copies: int) -> dict:
    import nbformat
    from nbclient import NotebookClient

    overheads, walls = [], []
    for _ in range(copies):
        nb = nbformat.read(str(ROOT / "solutions" / LAB / f"{LAB}.ipynb"), as_version=4)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline", type=int, default=3, help="copies for the baseline (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        result = ours(args.copies, args.workers, Path(scratch))
    over = result["overheads"]
    print(f"machine: {os.cpu_count()} cores; sandbox: {result['isolation']}; "
          f"{args.copies} copies of the {LAB} reference, {args.workers} workers")  # fmt: skip
    print(f"autograder: median overhead {statistics.median(over):.2f} s per submission "
          f"(min {min(over):.2f}, max {max(over):.2f}); median student-code time "
          f"{statistics.median(result['student']):.2f} s; {result['per_minute']:.1f} submissions/"
          f"minute including worker start, {result['steady_per_minute']:.1f} in steady state; "
          f"all cores {100 * result['cores_busy']:.0f}% busy; "
          f"scores {sorted(result['scores'])}")  # fmt: skip
    if args.baseline:
        base = baseline(args.baseline)
        print(f"fresh Jupyter kernel (nbclient, notebook only, no tests): median overhead "
              f"{statistics.median(base['overheads']):.2f} s per submission; "
              f"{base['per_minute']:.1f} submissions/minute on one core")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
