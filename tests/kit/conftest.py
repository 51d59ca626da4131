"""Fixtures of the kit's own tests: a small but complete course built in a temporary folder."""

from __future__ import annotations

import gc
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))  # tests/kit helpers (variants.py)

SOLUTION_CELL = '''def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    # TODO: multiply x by two.
    result_of_doubling_the_input = 2 * x
    return result_of_doubling_the_input
    ### END SOLUTION'''

HIDDEN_TEST = '''import pytest


@pytest.mark.question("doubling")
@pytest.mark.points(2)
def test_double(sub, ref, rng, tol):
    x = rng.normal(size=3)
    tol.assert_close(sub.double(x), ref.double(x), what="double(x)")
'''


def course_config(points: int = 2, due: str = "2026-10-12T23:59", labs: str | None = None) -> str:
    lab = labs or f"""{{"id": "tiny", "title": "Tiny lab", "notebook": "source/tiny/tiny.ipynb",
              "release": "2026-10-01T09:00", "due": "{due}", "points": {points}}}"""
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
    demo = new_code_cell("# Demo (not graded): shows that demo cells run in Jupyter\nprint('demo ran')")
    demo.metadata["tags"] = ["demo"]
    return new_notebook(
        cells=[new_markdown_cell("# Tiny lab\n\n## Doubling (2 points)\n\nThe lab is worth "
                                 "{{points}} points."), new_code_cell("import numpy as np"), cell,
               new_code_cell("assert double(2) == 4"), demo],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )  # fmt: skip


@pytest.fixture
def tiny_course(tmp_path: Path) -> Path:
    """A course folder with one lab, `tiny`, its source notebook and one hidden test."""
    (tmp_path / "course_config.py").write_text(course_config())
    (tmp_path / "source" / "tiny").mkdir(parents=True)
    nbformat.write(tiny_notebook(), tmp_path / "source" / "tiny" / "tiny.ipynb")
    (tmp_path / "tests" / "tiny").mkdir(parents=True)
    (tmp_path / "tests" / "conftest.py").write_text('pytest_plugins = ["autograder.pytest_plugin"]\n')
    (tmp_path / "tests" / "tiny" / "test_tiny.py").write_text(HIDDEN_TEST)
    (tmp_path / "courselib").symlink_to(REPO / "courselib")
    (tmp_path / "constraints.txt").write_text((REPO / "constraints.txt").read_text())
    return tmp_path


@pytest.fixture(scope="session")
def postgresql_server():
    """A real PostgreSQL server in a temporary folder for the session (see postgresql_server.py);
    skipped only where PostgreSQL is not installed and `make` could not install it."""
    from postgresql_server import PostgresServer, server_binaries

    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (scripts/install-postgresql.sh needs root and "
                    "apt-get; or apt-get install postgresql)")
    server = PostgresServer(binaries).start()
    yield server
    gc.collect()  # the tests' engines close their pooled connections while the server is up
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def gradebook_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty gradebook database: a SQLite file, and a database on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gb.sqlite'}"
    return request.getfixturevalue("postgresql_server").new_database()
