"""Profile: where the time before the first grade, and after the last, goes.

    .venv/bin/python benchmarks/profile_startup.py [--lab lab01_rnn_from_scratch] [--repeat 3]

Each phase is measured in fresh processes, alone, then as the grader pays it:

- imports: the CLI (what the TA waits for before anything happens), a grading worker's modules;
- sandbox start: bubblewrap, Python and the server's imports (NumPy, torch, IPython, matplotlib);
- reference: running the lab's source notebook in the worker (its imports and cells);
- prepare: both at once, as a grading worker does at its start (`autograder.judging.judge.prepare`);
- first and steady grade: `judge.grade_notebook` on the lab's solution, the first one paying
  pytest's start, then one as every later submission does;
- shutdown: closing the worker's sandbox;
- one notebook end to end: `autograder grade <lab> one.ipynb --workers 1`, shell to exit.

The figures are medians over `--repeat` runs; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PHASES = r'''
import json, sys, time
from pathlib import Path
started = time.perf_counter()
marks = {}
def mark(name):
    marks[name] = time.perf_counter() - started
import autograder.judging.local_pool, autograder.judging.judge
mark("worker imports")
from autograder.judging import judge
from autograder.core.config import load_course
from autograder.judging.reference import reference_run
course = load_course(Path(sys.argv[1]))
lab_id, mode = sys.argv[2], sys.argv[3]
lab = course.lab(lab_id)
solution = course.root / "solutions" / lab_id / f"{lab_id}.ipynb"
t = time.perf_counter()
if mode == "apart":
    judge.process_sandbox("cpu").start()
    mark("sandbox start")
    reference_run(lab)
    mark("reference")
else:
    judge.prepare(course, lab_id, "cpu")
    judge.process_sandbox("cpu").start()
    mark("prepare (sandbox and reference side by side)")
verdict = judge.grade_notebook(course, lab_id, solution)
mark("first grade")
verdict = judge.grade_notebook(course, lab_id, solution)
mark("steady grade")
judge.shutdown()
mark("shutdown")
print(json.dumps(marks))
'''


def run_phases(lab: str, mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", PHASES, str(ROOT), lab, mode],
                          capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    durations, previous = {}, 0.0
    for name, at in marks.items():
        durations[name] = at - previous
        previous = at
    return durations


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, cwd=ROOT)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="lab01_rnn_from_scratch")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    cli = [sys.executable, "-c", "import autograder.cli"]
    for _ in range(args.repeat):
        rows.setdefault("CLI imports", []).append(timed(cli))
        for mode in ("apart", "together"):
            for name, seconds in run_phases(args.lab, mode).items():
                key = f"{name} [{mode}]" if name in ("worker imports", "first grade",
                                                     "steady grade", "shutdown") else name
                rows.setdefault(key, []).append(seconds)
        with tempfile.TemporaryDirectory(prefix="profile-") as scratch:
            notebook = Path(scratch) / "ann.ipynb"
            notebook.write_bytes((ROOT / "solutions" / args.lab / f"{args.lab}.ipynb").read_bytes())
            grade = [str(Path(sys.executable).with_name("autograder")), "grade", args.lab,
                     str(notebook), "--workers", "1", "--db", f"sqlite:///{scratch}/g.sqlite"]
            rows.setdefault("one notebook end to end (autograder grade)", []).append(timed(grade))
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; lab {args.lab}; "
          f"median of {args.repeat}")  # fmt: skip
    width = max(map(len, rows))
    for name, values in rows.items():
        print(f"  {name:<{width}}  {statistics.median(values):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
