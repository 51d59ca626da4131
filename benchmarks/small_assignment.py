"""The small assignment of the speed benchmark: six NumPy and PyTorch questions, one hidden test
each, in a course of its own (`autograder init`, then `new-lab small`, then released), the size of
a typical weekly exercise. `bench_grading.py --lab small` grades it; the same notebooks go
through nbgrader side by side.

    .venv/bin/python benchmarks/small_assignment.py FOLDER     (builds and releases it there)
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LAB = "small"

QUESTIONS = [  # (heading, grade_id, solution)
    ("1.1 Sigmoid", "sigmoid", '''
        def sigmoid(n):
            """1 / (1 + exp(-n)) elementwise, for a float64 array n, without overflow."""
            ### BEGIN SOLUTION
            e = np.exp(-np.abs(n))
            return np.where(n >= 0, 1 / (1 + e), e / (1 + e))
            ### END SOLUTION'''),
    ("1.2 Softmax", "softmax", '''
        def softmax(z):
            """The softmax of each row of z (float64, shape (N, K)); rows sum to 1."""
            ### BEGIN SOLUTION
            shifted = np.exp(z - z.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)
            ### END SOLUTION'''),
    ("1.3 One-hot", "one_hot", '''
        def one_hot(labels, classes):
            """Float64 array (N, classes) with a 1 at each row's label (int array (N,))."""
            ### BEGIN SOLUTION
            return np.eye(classes)[labels]
            ### END SOLUTION'''),
    ("1.4 Mean squared error", "mse", '''
        def mse(prediction, target):
            """The mean of (prediction - target) ** 2, a float."""
            ### BEGIN SOLUTION
            return float(np.mean((prediction - target) ** 2))
            ### END SOLUTION'''),
    ("2.1 A linear layer", "linear_forward", '''
        def linear_forward(weight, bias, x):
            """x @ weight.T + bias for torch tensors x (N, I), weight (O, I), bias (O,)."""
            ### BEGIN SOLUTION
            return x @ weight.T + bias
            ### END SOLUTION'''),
    ("2.2 One gradient step", "sgd_step", '''
        def sgd_step(weight, bias, x, y, lr):
            """One step of gradient descent on the mean squared error of linear_forward:
            returns the new (weight, bias), detached, and the loss before the step (a float)."""
            ### BEGIN SOLUTION
            weight = weight.detach().clone().requires_grad_(True)
            bias = bias.detach().clone().requires_grad_(True)
            loss = torch.mean((linear_forward(weight, bias, x) - y) ** 2)
            loss.backward()
            new_weight = (weight - lr * weight.grad).detach()
            return new_weight, (bias - lr * bias.grad).detach(), loss.item()
            ### END SOLUTION'''),
]

TESTS = '''"""Hidden tests of the small benchmark assignment: one per question."""

import numpy as np
import pytest
import torch


@pytest.mark.question("1.1 Sigmoid")
@pytest.mark.points(1)
def test_sigmoid(sub, ref, rng, tol):
    n = rng.normal(scale=20.0, size=(5, 4))
    tol.assert_close(sub.sigmoid(n), ref.sigmoid(n), what="sigmoid(n)")


@pytest.mark.question("1.2 Softmax")
@pytest.mark.points(1)
def test_softmax(sub, ref, rng, tol):
    z = rng.normal(scale=3.0, size=(6, 4))
    tol.assert_close(sub.softmax(z), ref.softmax(z), what="softmax(z)")


@pytest.mark.question("1.3 One-hot")
@pytest.mark.points(1)
def test_one_hot(sub, ref, rng, tol):
    labels = rng.integers(0, 5, size=7)
    tol.assert_close(sub.one_hot(labels, 5), ref.one_hot(labels, 5), what="one_hot(labels, 5)")


@pytest.mark.question("1.4 Mean squared error")
@pytest.mark.points(1)
def test_mse(sub, ref, rng, tol):
    p, t = rng.normal(size=(2, 8, 3))
    tol.assert_close(sub.mse(p, t), ref.mse(p, t), what="mse(prediction, target)")


def _layer(rng):
    return (torch.tensor(rng.normal(size=(2, 3))), torch.tensor(rng.normal(size=2)),
            torch.tensor(rng.normal(size=(4, 3))))


@pytest.mark.question("2.1 A linear layer")
@pytest.mark.points(1)
def test_linear_forward(sub, ref, rng, tol):
    weight, bias, x = _layer(rng)
    tol.assert_close(sub.linear_forward(weight, bias, x), ref.linear_forward(weight, bias, x),
                     what="linear_forward(weight, bias, x)")


@pytest.mark.question("2.2 One gradient step")
@pytest.mark.points(1)
def test_sgd_step(sub, ref, rng, tol):
    weight, bias, x = _layer(rng)
    y = torch.tensor(rng.normal(size=(4, 2)))
    got, expected = sub.sgd_step(weight, bias, x, y, 0.1), ref.sgd_step(weight, bias, x, y, 0.1)
    for name, value, wanted in zip(("weight", "bias", "loss"), got, expected):
        tol.assert_close(value, wanted, what=f"{name} from sgd_step")
'''


def _cell(source: str, grade_id: str, solution: bool) -> nbformat.NotebookNode:
    cell = new_code_cell(textwrap.dedent(source).strip())
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": not solution,
                                 "schema_version": 3, "solution": solution, "task": False}
    return cell


def notebook() -> nbformat.NotebookNode:
    cells = [new_markdown_cell("# Small assignment\n\nDue {{due}}; {{points}} points."),
             _cell("import numpy as np\nimport torch", "imports", solution=False)]
    for heading, grade_id, source in QUESTIONS:
        cells += [new_markdown_cell(f"### {heading} (1 point)"), _cell(source, grade_id, True)]
    return new_notebook(cells=cells, metadata={"kernelspec": {
        "display_name": "Python 3", "language": "python", "name": "python3"}})


def build(folder: Path) -> Path:
    """A course in `folder` (new or empty) whose lab `small` is released; its root."""
    from autograder.authoring.course_init import init_course, new_lab

    init_course(folder, name="Speed benchmark", term="bench")
    new_lab(folder, LAB, "Small assignment")
    config = folder / "course_config.py"
    text = config.read_text()
    entry = text.index(f'"id": "{LAB}"')
    points = re.compile(r'"points": 1\b').search(text, entry)
    config.write_text(text[:points.start()] + '"points": 6' + text[points.end():])
    nbformat.write(notebook(), str(folder / "source" / LAB / f"{LAB}.ipynb"))
    (folder / "tests" / LAB / f"test_{LAB}.py").write_text(TESTS)
    autograder = str(Path(sys.executable).with_name("autograder"))
    done = subprocess.run([autograder, "--course", str(folder), "release", LAB],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"releasing the small assignment failed: {done.stdout}{done.stderr}")
    return folder


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve()))
