"""The package's shape (`scripts/import_graph.py`): imports run one way, from a side to the sides
below it, with no circle, and every package's `__init__.py` is its face (a docstring and the
names it re-exports), not its code."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_kit_has_no_circle_no_upward_arrow_and_lean_faces():
    problems = _import_graph().violations()
    assert problems == [], "\n".join(problems)


def test_the_picture_sees_a_circle_an_upward_arrow_and_a_fat_face(tmp_path, monkeypatch):
    graph = _import_graph()
    package = tmp_path / "autograder"
    for side in ("core", "judging"):
        (package / side).mkdir(parents=True)
    (package / "__init__.py").write_text('"""A kit."""\n')
    (package / "core" / "__init__.py").write_text('"""The bottom."""\n')
    (package / "core" / "config.py").write_text("def f():\n    from autograder.judging import grading\n")
    (package / "judging" / "__init__.py").write_text('"""Code in a face."""\n' + "x = 1\n" * 45)
    (package / "judging" / "grading.py").write_text("from autograder.core import config\n")
    monkeypatch.setattr(graph, "ROOT", tmp_path)
    assert graph.violations() == [
        "circle: autograder.core.config -> autograder.judging.grading",
        "upward: autograder.core.config (core) imports autograder.judging.grading (judging)",
        "face: autograder/judging/__init__.py has 46 lines (at most 40: a docstring and "
        "re-exports)",
    ]


def test_dask_preloads_the_worker_plugins_setup_from_the_distributed_package():
    # `dask worker --preload autograder.distributed`, as Dask itself loads it: the package's
    # face must still offer the worker plugin's dask_setup (which refuses a threaded worker)
    from distributed.preloading import Preload

    worker = SimpleNamespace(state=SimpleNamespace(nthreads=4))
    preload = Preload(worker, "autograder.distributed", [], None)
    with pytest.raises(RuntimeError, match="--nthreads 1"):
        asyncio.run(preload.start())
