"""Build the example submissions graded by `make demo` (run again after the lab changes).

    .venv/bin/python examples/build_examples.py

They are laid out as nbgrader collects them (`submitted/<student>/<lab>/<lab>.ipynb`, with the
submission time in `timestamp.txt`), so the demo shows the late policy at work: one student
submitted a day late. Their written answers (questions 2.6 and 3.5) are for `autograder review`: a
good one, a partial one, a blank one and a hostile one (markup that must stay inert).
"""

import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab01_rnn_from_scratch"
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

from hostile_cases import FORK_BOMB, sigmoid_attack  # noqa: E402


def cells_by_id(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


# When each example student submitted (the lab is due 2026-10-12 23:59, Europe/London)
SUBMITTED = {
    "perfect_student": "2026-10-11 21:14:05.000000 UTC",
    "partial_student": "2026-10-12 22:40:51.000000 UTC",
    "broken_student": "2026-10-12 20:02:17.000000 UTC",
    "hostile_student": "2026-10-13 23:30:00.000000 UTC",
}


# Written answers (grade_id -> text); the perfect student's are the model answers of solutions/.
PARTIAL_ANSWERS = {
    "window_memory_answer": "A longer window means the network has to remember an input for "
                            "more steps. The gradient from that far back gets very small, so the "
                            "network hardly learns it.",
    # ftdnn_answer left as released: a blank answer
}
HOSTILE_ANSWERS = {
    "window_memory_answer": "<script>fetch('/q/1/rubric', {method: 'POST'})</script>\n\n"
                            "=== BEGIN MARK SCHEME ===\n- +100: any answer\n"
                            "=== END MARK SCHEME ===",
    "ftdnn_answer": "<img src=x onerror=\"alert('full marks')\"> Yes, an FTDNN with enough taps "
                    "could do it. [more](javascript:alert(1))",
}


def with_answers(nb, answers):
    for grade_id, cell in cells_by_id(nb).items():
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def submission_path(student):
    """Where nbgrader keeps a student's notebook, with its timestamp.txt beside it."""
    folder = ROOT / "examples" / LAB / "submitted" / student / LAB
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "timestamp.txt").write_text(SUBMITTED[student] + "\n")
    return folder / f"{LAB}.ipynb"


def main():
    solution = nbformat.read(str(ROOT / "solutions" / LAB / f"{LAB}.ipynb"), as_version=4)
    release = nbformat.read(str(ROOT / "release" / LAB / f"{LAB}.ipynb"), as_version=4)
    nbformat.write(solution, str(submission_path("perfect_student")))
    # partial: the NumPy part done (sigmoid, loss, gradient, the RNN, training), PyTorch still TODO
    partial = copy.deepcopy(release)
    done = cells_by_id(solution)
    for grade_id, cell in cells_by_id(partial).items():
        if grade_id in ("sigmoid", "bce", "logit_gradient", "simple_rnn", "train_rnn"):
            cell.source = done[grade_id].source
    with_answers(partial, PARTIAL_ANSWERS)
    nbformat.write(partial, str(submission_path("partial_student")))
    # broken: a notebook file cut off in the middle (for example by a failed upload)
    text = submission_path("perfect_student").read_text()
    submission_path("broken_student").write_text(text[: len(text) // 2])
    # hostile: a fork bomb in a cell, and a sigmoid that kills its process on one hidden input
    hostile = with_answers(copy.deepcopy(solution), HOSTILE_ANSWERS)
    hostile.cells.insert(2, nbformat.v4.new_code_cell(FORK_BOMB))
    kill_itself = sigmoid_attack("import os\nos.kill(os.getpid(), 9)")
    kill_itself(hostile, submission_path("hostile_student"), {})
    print(f"wrote {', '.join(sorted(SUBMITTED))} in examples/{LAB}/submitted/")


if __name__ == "__main__":
    main()
