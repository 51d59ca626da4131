"""What Gradescope's `run_autograder` runs: grade the submitted notebook, write results.json.

    python -m autograder.exports.gradescope_run [--root /autograder]

The submission is graded exactly as `autograder grade` grades it (the same sandbox, judge and
gradebook records, in a throwaway gradebook), then written in Gradescope's results format:

- `tests`: one entry per question, in notebook order: `name`, `score`, `max_score`, `status`
  (`passed` when every point was earned, else `failed`), `output` (each test's outcome and the
  same student-safe message as the feedback), and `visibility` when the lab sets one for it;
  a written question (`autograder.core.written`) is there as pending: its `max_score`, no
  score or status, and an output that says course staff grade it;
- `score` (the tests' points: the late policy stays Gradescope's, written questions are graded
  by course staff), `execution_time`, `output` (which notebook was graded, how the sandbox
  isolated it, and the notebook's notes: failing cells, skipped shell escapes), `visibility`,
  `stdout_visibility`, and `extra_data` with the notebook and the isolation mode (`bwrap`, or
  `limits only` where the image cannot run bubblewrap).

The submitted notebook is chosen by the kit's one rule (`autograder.intake.notebook_choice`):
macOS's `__MACOSX/` and `._*` files, checkpoints and hidden files are never a submission; the
notebook named after the lab wins, then a single notebook, then the one that defines the lab's
graded names. The same lines go to stdout, which Gradescope keeps for instructors.

Whatever goes wrong in the grader itself still ends in a valid results.json: score 0 and one line
saying why. The root (`/autograder`) can be moved with `--root` or $AUTOGRADER_ROOT.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from autograder.core.safe_text import one_line

ROOT_ENV = "AUTOGRADER_ROOT"
DEFAULT_ROOT = Path("/autograder")
STUDENT = "submission"  # the gradebook's name for the one student graded here
ISOLATION = {"bwrap": "bubblewrap (no network, read-only system, no view of the course files)",
             "limits only": "resource limits only (this image cannot run bubblewrap: no "
                            "filesystem or network isolation)"}  # fmt: skip
PENDING_OUTPUT = ("Pending: a written answer, graded by course staff after the deadline; its "
                  "points are not in the score until then.")


def _settings(root: Path) -> dict[str, Any]:
    from autograder.exports.gradescope import SETTINGS_FILE

    path = root / "source" / SETTINGS_FILE
    settings = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(settings, dict) or not isinstance(settings.get("lab"), str):
        raise ValueError(f"{path}: names no lab")
    return settings


def problem_results(output: str, execution_time: float) -> dict[str, Any]:
    """A result without tests: score 0 and one line saying why."""
    return {"score": 0.0, "execution_time": round(execution_time), "output": one_line(output, 1000),
            "output_format": "text", "stdout_visibility": "hidden", "tests": []}  # fmt: skip


def grader_failure(error: BaseException, execution_time: float) -> dict[str, Any]:
    return problem_results(
        f"The autograder itself failed, not your code ({type(error).__name__}: "
        f"{one_line(error, 300)}); tell course staff.", execution_time)


def graded_results(course: Any, lab_id: str, grade: Any, execution_time: float,
                   notebook: str = "") -> dict[str, Any]:  # fmt: skip
    """Gradescope's results for one graded submission (a report's `StudentGrade`)."""
    from autograder.records.report import CELL_COUNTING, results_by_question, test_result_text

    lab = course.lab(lab_id)
    tests = []
    for question, results in results_by_question(grade):
        test: dict[str, Any] = {"name": question.name, "max_score": question.possible,
                                "output_format": "text"}  # fmt: skip
        if question.pending:  # a written answer: no score until course staff grade it
            test["output"] = PENDING_OUTPUT
        else:
            test |= {"score": question.earned,
                     "status": "passed" if question.earned >= question.possible else "failed",
                     "output": "\n".join(test_result_text(result, grade.notes)
                                         for result in results)}  # fmt: skip
        if question.name in lab.gradescope_question_visibility:
            test["visibility"] = lab.gradescope_question_visibility[question.name]
        tests.append(test)
    sandbox = grade.run.sandbox
    pending = sum(question.possible for question in grade.questions if question.pending)
    tested = grade.possible - pending
    output = [f"{lab.title}: {grade.total:g} / {tested:g} points from the tests.",
              f"Graded {notebook or 'the submitted notebook'}; sandbox: "
              f"{ISOLATION.get(sandbox, sandbox)}."]  # fmt: skip
    if pending:
        output.append(f"Written answers ({pending:g} points) are pending: course staff grade "
                      "them.")  # fmt: skip
    if grade.notes:
        output += ["", "Your notebook (" + CELL_COUNTING.rstrip(".").lower() + "):"]
        output += [f"- {note}" for note in grade.notes]
    return {"score": grade.total, "execution_time": round(execution_time),
            "output": "\n".join(output), "output_format": "text",
            "visibility": lab.gradescope_visibility, "stdout_visibility": "hidden",
            "extra_data": {"notebook": notebook, "sandbox": sandbox}, "tests": tests}  # fmt: skip


def grade_submission(root: Path, started: float) -> dict[str, Any]:
    from autograder.core.config import load_course
    from autograder.intake import Submission
    from autograder.intake.notebook_choice import (
        candidates,
        choose_notebook,
        lab_graded_names,
        notebook_files,
    )
    from autograder.judging.grading import grade_batch
    from autograder.records.gradebook import Gradebook
    from autograder.records.report import student_grades

    lab_id = _settings(root)["lab"]
    course_dir = root / "source" / "course"
    # The hidden tests and the reference are root's alone, whatever setup.sh left: without
    # bubblewrap the sandbox's uid could otherwise read them.
    course_dir.chmod(0o700)
    course = load_course(course_dir)
    submitted = root / "submission"
    links: list[str] = []
    found = notebook_files(submitted, links.append) if submitted.is_dir() else []
    chosen, why = choose_notebook(candidates(found), lab_id,
                                  lab_graded_names(course.lab(lab_id).notebook))  # fmt: skip
    if chosen is None:
        return problem_results(f"Nothing was graded: {why}; submit {lab_id}.ipynb.",
                               time.monotonic() - started)  # fmt: skip
    notebook = chosen.path
    shown = one_line(notebook.relative_to(submitted).as_posix(), 200)
    print(f"run_autograder: grading {shown}" + (f" ({why})" if why else ""), flush=True)
    with tempfile.TemporaryDirectory(prefix="autograder-gradescope-") as scratch:
        with Gradebook(f"sqlite:///{Path(scratch) / 'gradebook.sqlite'}") as gradebook:
            submission = Submission(STUDENT, notebook, None, "gradescope")
            summary = grade_batch(course, lab_id, [submission], gradebook, workers=1,
                                  device="cpu", force=True, progress=False)  # fmt: skip
            grades = student_grades(course, lab_id, gradebook)
    if summary.faults:  # the grader's failure, never the student's grade
        return problem_results(f"The autograder itself failed, not your code "
                               f"({summary.faults[0]}); tell course staff.",
                               time.monotonic() - started)  # fmt: skip
    if len(grades) != 1:
        raise RuntimeError(f"the gradebook holds {len(grades)} results instead of one")
    results = graded_results(course, lab_id, grades[0], time.monotonic() - started, shown)
    if why:  # which of several notebooks was graded, and why
        results["output"] = f"{one_line(why, 300)}\n{results['output']}"
    print(f"run_autograder: sandbox {grades[0].run.sandbox}; score {results['score']:g}",
          flush=True)  # fmt: skip
    return results


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Written whole or not at all: Gradescope never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_autograder", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path,
                        default=Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT),
                        help="Gradescope's folder (default: $AUTOGRADER_ROOT or /autograder)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        results = grade_submission(args.root, started)
    except Exception as error:  # noqa: BLE001 - Gradescope must get a result whatever failed
        results = grader_failure(error, time.monotonic() - started)
        print(f"run_autograder: {results['output']}", file=sys.stderr)
    write_results(args.root / "results" / "results.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
