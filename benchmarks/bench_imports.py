"""Benchmark: an imported nbgrader assignment graded by nbgrader and by the kit, same submissions.

    .venv/bin/python benchmarks/bench_imports.py [--workers 2]

The assignment is problem 1 of nbgrader's documentation course (`ps1`, its autograded notebook;
tests/kit/import_fixtures), the submissions those the course ships (bitdiddle, hacker) and the six
made here (solution, blank, wrong, raising, looping, syntax_error). nbgrader grades them with
`nbgrader autograde` (its default limit, 30 s of wall-clock time per cell); the kit imports the
assignment (`autograder import nbgrader`, which gives the lab the same 30 s per cell and per test
cell), releases it, and grades the same notebooks with `autograder grade` (one worker, then
`--workers`). Both are timed from the shell to the exit, with every fixed cost; generating and
releasing the assignment are not timed; each line gives the machine's load average too. Then the
looping submission alone, in both: where most of the time goes. Its `squares` never returns, so
five cells run into the limit in both tools: `squares(10)`, `sum_of_squares(10)` and the three
test cells that call `squares` (the kit interrupts each and goes on in the same sandbox; the
submission's own copies of the test cells are not run, nbgrader runs the source's in their
place).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "kit" / "import_fixtures"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def timed(command: list[str], cwd: Path) -> float:
    """Wall-clock seconds of `command`, shell to exit."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {(done.stdout + done.stderr)[-1500:]}")
    return wall


def line(what: str, wall: float, baseline: float | None = None) -> str:
    """One figure, with the machine's load (other jobs share its cores)."""
    compared = f" = {wall / baseline:.2f}x nbgrader" if baseline else ""
    return f"{what:34} {wall:6.1f} s{compared} (load {os.getloadavg()[0]:.1f})"


def nbgrader_course(folder: Path, students: dict[str, Path]) -> Path:
    """ps1 with its autograded notebook only (problem2 is graded by hand: the kit has no lab for
    it, so nbgrader does not run it either), the students' problem1 notebooks."""
    root = folder / "nbgrader"
    (root / "source" / "ps1").mkdir(parents=True)
    for name in ("problem1.ipynb", "jupyter.png"):
        shutil.copyfile(FIXTURES / "nbgrader-docs/source/ps1" / name, root / "source/ps1" / name)
    shutil.copyfile(FIXTURES / "nbgrader-docs/source/header.ipynb", root / "source/header.ipynb")
    config = 'c = get_config()\nc.CourseDirectory.course_id = "bench"\n'
    (root / "nbgrader_config.py").write_text(config)
    for student, notebook in students.items():
        (root / "submitted" / student / "ps1").mkdir(parents=True)
        shutil.copyfile(notebook, root / "submitted" / student / "ps1" / "problem1.ipynb")
    timed([str(BIN / "nbgrader"), "generate_assignment", "ps1", "--force",
           "--IncludeHeaderFooter.header=source/header.ipynb"], root)  # fmt: skip
    return root


def kit_course(folder: Path, nbgrader: Path) -> Path:
    course = folder / "kit"
    autograder = [sys.executable, "-m", "autograder.cli"]
    timed([*autograder, "init", str(course)], folder)
    timed([*autograder, "import", "nbgrader", str(nbgrader / "source" / "ps1")], course)
    timed([*autograder, "release", "problem1"], course)
    return course


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    made = FIXTURES / "submissions" / "ps1"
    students = {name: FIXTURES / f"nbgrader-docs/submitted/{name}/ps1/problem1.ipynb"
                for name in ("bitdiddle", "hacker")}  # fmt: skip
    students |= {path.name: path / "ps1" / "problem1.ipynb" for path in sorted(made.iterdir())}
    autograder = [sys.executable, "-m", "autograder.cli"]
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as scratch:
        folder = Path(scratch)
        nbgrader = nbgrader_course(folder, students)
        course = kit_course(folder, nbgrader)
        submitted = nbgrader / "submitted"
        print(f"{len(students)} submissions of nbgrader's ps1 problem 1: {', '.join(students)}")
        original = timed([str(BIN / "nbgrader"), "autograde", "ps1", "--force"], nbgrader)
        print(line("nbgrader autograde", original))
        one = timed([*autograder, "grade", "problem1", str(submitted), "--workers", "1",
                     "--force"], course)  # fmt: skip
        print(line("autograder grade, 1 worker", one, original))
        if args.workers > 1:
            many = timed([*autograder, "grade", "problem1", str(submitted), "--workers",
                          str(args.workers), "--force"], course)  # fmt: skip
            print(line(f"autograder grade, {args.workers} workers", many, original))
        looping_original = timed([str(BIN / "nbgrader"), "autograde", "ps1", "--force",
                                  "--student", "looping"], nbgrader)  # fmt: skip
        print(line("the looping one alone: nbgrader", looping_original))
        looping = timed([*autograder, "grade", "problem1",
                         str(submitted / "looping" / "ps1" / "problem1.ipynb"), "--workers", "1",
                         "--force"], course)  # fmt: skip
        print(line("the looping one alone: kit", looping, looping_original))

if __name__ == "__main__":
    main()
