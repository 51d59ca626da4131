"""The small course the kit's tests build: its config, its one-question notebook and hidden test.

A plain module, not the conftest: helpers imported outside pytest (benchmarks, written_lab.py) and
tests that run after an in-process grading (which imports a course's own tests/conftest.py as
`conftest`) reach it by this name.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[2]

SOLUTION_CELL = '''def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    # TODO: multiply x by two.
    result_of_doubling_the_input = 2 * x
    return result_of_doubling_the_input
    ### END SOLUTION'''

HIDDEN_TEST = """import pytest


@pytest.mark.question("doubling")
@pytest.mark.points(2)
def test_double(sub, ref, rng, tol):
    x = rng.normal(size=3)
    tol.assert_close(sub.double(x), ref.double(x), what="double(x)")
"""


def course_config(points: int = 2, due: str = "2026-10-12T23:59", labs: str | None = None) -> str:
    lab = (
        labs
        or f"""{{"id": "tiny", "title": "Tiny lab", "notebook": "source/tiny/tiny.ipynb",
              "release": "2026-10-01T09:00", "due": "{due}", "points": {points}}}"""
    )
    return textwrap.dedent(f"""
        COURSE = {{
            "name": "Test course", "term": "test", "timezone": "UTC", "seed_salt": "salt",
            "late_policy": {{"grace_minutes": 0, "penalty_per_day": 0.1, "max_days_late": 3}},
            "defaults": {{
                "cell_timeout_s": 60, "notebook_timeout_s": 120, "test_timeout_s": 30,
                "memory_mb": 2048, "skip_tags": ["demo"],
                "tolerances": {{
                    "cpu": {{"float64": {{"rtol": 1e-7, "atol": 1e-10}},
                             "float32": {{"rtol": 1e-5, "atol": 1e-6}}}},
                    "cuda": {{"float64": {{"rtol": 1e-6, "atol": 1e-9}},
                              "float32": {{"rtol": 1e-4, "atol": 1e-5}}}},
                }},
            }},
            "labs": [{lab}],
        }}
    """)


def tiny_notebook(solution: str = SOLUTION_CELL) -> nbformat.NotebookNode:
    cell = new_code_cell(solution)
    cell.metadata["nbgrader"] = {
        "grade": False, "grade_id": "double", "locked": False, "schema_version": 3,
        "solution": True, "task": False,
    }  # fmt: skip
    demo = new_code_cell(
        "# Demo (not graded): shows that demo cells run in Jupyter\nprint('demo ran')"
    )
    demo.metadata["tags"] = ["demo"]
    return new_notebook(
        cells=[new_markdown_cell("# Tiny lab\n\n## Doubling (2 points)\n\nThe lab is worth "
                                 "{{points}} points."), new_code_cell("import numpy as np"), cell,
               new_code_cell("assert double(2) == 4"), demo],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )  # fmt: skip
