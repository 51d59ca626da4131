"""Build the example submissions graded by `make demo` (run again after the lab changes).

    .venv/bin/python examples/build_examples.py
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


def main():
    out = ROOT / "examples" / LAB
    out.mkdir(parents=True, exist_ok=True)
    solution = nbformat.read(str(ROOT / "solutions" / LAB / f"{LAB}.ipynb"), as_version=4)
    release = nbformat.read(str(ROOT / "release" / LAB / f"{LAB}.ipynb"), as_version=4)
    nbformat.write(solution, str(out / "perfect_student.ipynb"))
    # partial: Part 1 (sigmoid, loss) and the NumPy RNN done, the PyTorch part still TODO
    partial = copy.deepcopy(release)
    done = cells_by_id(solution)
    for grade_id, cell in cells_by_id(partial).items():
        if grade_id in ("sigmoid", "bce", "simple_rnn", "train_rnn"):
            cell.source = done[grade_id].source
    nbformat.write(partial, str(out / "partial_student.ipynb"))
    # broken: a notebook file cut off in the middle (for example by a failed upload)
    text = (out / "perfect_student.ipynb").read_text()
    (out / "broken_student.ipynb").write_text(text[: len(text) // 2])
    # hostile: a fork bomb in a cell, and a sigmoid that kills its process on one hidden input
    hostile = copy.deepcopy(solution)
    hostile.cells.insert(2, nbformat.v4.new_code_cell(FORK_BOMB))
    sigmoid_attack("import os\nos.kill(os.getpid(), 9)")(hostile, out / "hostile_student.ipynb", {})
    print(f"wrote {', '.join(sorted(p.name for p in out.glob('*.ipynb')))} in {out}")


if __name__ == "__main__":
    main()
