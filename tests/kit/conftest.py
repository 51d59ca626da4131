"""Fixtures of the kit's own tests: a small but complete course built in a temporary folder."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/kit helpers (variants.py, course_files.py)

from course_files import HIDDEN_TEST, REPO, SOLUTION_CELL, course_config, tiny_notebook  # noqa: E402,F401


@pytest.fixture
def tiny_course(tmp_path: Path) -> Path:
    """A course folder with one lab, `tiny`, its source notebook and one hidden test."""
    (tmp_path / "course_config.py").write_text(course_config())
    (tmp_path / "source" / "tiny").mkdir(parents=True)
    nbformat.write(tiny_notebook(), tmp_path / "source" / "tiny" / "tiny.ipynb")
    (tmp_path / "tests" / "tiny").mkdir(parents=True)
    (tmp_path / "tests" / "conftest.py").write_text(
        'pytest_plugins = ["autograder.pytest_plugin"]\n'
    )
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
        pytest.skip(
            "PostgreSQL is not installed (scripts/install-postgresql.sh needs root and "
            "apt-get; or apt-get install postgresql)"
        )
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
