"""Each lab's Gradescope autograder, run here as Gradescope runs it: the figures README states.

    .venv/bin/python benchmarks/gradescope_labs.py [--lab LAB ...] [--repeat N]

Builds every lab's zip (`autograder export gradescope`), lays it out as Gradescope's
/autograder, submits the executed solution and runs `run_autograder`
(`autograder.exports.gradescope_check`), and prints per lab: the score, the wall time, the CPU
time of all its processes, their peak memory together (summed PSS, sampled every 50 ms), the
container memory to set on Gradescope (the peak with 25% headroom, in 256 MB steps, at least its
768 MB default) and the time to expect at Gradescope's default half CPU.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from autograder.core.config import load_course
from autograder.exports.gradescope import build_gradescope_zip
from autograder.exports.gradescope_check import (
    GRADESCOPE_DEFAULT_CPUS,
    measure_zip,
    memory_to_set,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append", default=None, help="a lab (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per lab (the largest peak)")
    args = parser.parse_args()
    course = load_course(ROOT)
    print(f"{'lab':<32} {'score':>9} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} "
          f"{'set MB':>7} {'at 0.5 CPU':>10}  sandbox")
    with tempfile.TemporaryDirectory(prefix="bench-gradescope-") as scratch:
        for lab_id in args.lab or list(course.labs):
            archive = build_gradescope_zip(course, lab_id, Path(scratch))
            runs = [measure_zip(course, lab_id, archive) for _ in range(args.repeat)]
            worst = max(runs, key=lambda run: run.peak_mb)
            points = course.lab(lab_id).points
            print(f"{lab_id:<32} {worst.score:>4g}/{points:<4g} "
                  f"{max(run.seconds for run in runs):>7.1f} "
                  f"{max(run.cpu_seconds for run in runs):>6.1f} {worst.peak_mb:>8.0f} "
                  f"{memory_to_set(worst.peak_mb):>7} "
                  f"{max(run.cpu_seconds for run in runs) / GRADESCOPE_DEFAULT_CPUS:>9.0f}s"
                  f"  {worst.sandbox}", flush=True)


if __name__ == "__main__":
    main()
