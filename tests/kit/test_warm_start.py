"""A grading worker pays each fixed cost once, and never for the wrong thing:

- the sandbox server imports the lab's own modules (read from its source notebook) before it
  forks a child per submission, and children see them already imported;
- the trusted reference run leaves out the visible checks (the hidden tests never read them);
- `reference_answer` computes a reference answer once per worker and hands out copies;
- with more workers than the cores can start at once, the others wait for the first.
"""

from __future__ import annotations

import nbformat
import pytest
from course_files import HIDDEN_TEST, tiny_notebook
from nbformat.v4 import new_code_cell, new_notebook

from autograder.core.config import load_course
from autograder.core.notebook import notebook_imports
from autograder.judging import judge
from autograder.judging.local_pool import staggered
from autograder.pytest_plugin import reference_run
from autograder.sandbox import Limits, Sandbox

LIMITS = Limits(memory_mb=1024, cpu_s=60, cell_timeout_s=10, notebook_timeout_s=30,
                test_timeout_s=10, max_processes=32)  # fmt: skip
# a standard module that nothing the kit or the server imports pulls in
UNUSUAL_MODULE = "tabnanny"


def test_a_notebooks_imports_are_read_from_its_code_cells():
    cells = [new_code_cell("%matplotlib inline\nimport numpy as np, json.tool\nfrom torch import nn"),
             new_code_cell("from . import sibling\nimport os.path as p\nx = 1"),
             new_code_cell("x = (\nimport never_seen"),
             new_code_cell("import numpy\nimport shown_only_in_a_demo"),
             new_code_cell("def f():\n    import only_when_called\n")]  # fmt: skip
    cells[3].metadata["tags"] = ["demo"]
    nb = new_notebook(cells=cells)
    assert notebook_imports(nb) == ["numpy", "json.tool", "torch", "os.path",
                                    "shown_only_in_a_demo"]  # fmt: skip
    assert notebook_imports(nb, ("demo",)) == ["numpy", "json.tool", "torch", "os.path"]


def _probe(sandbox: Sandbox) -> bool:
    payload = judge.notebook_payload(new_notebook(cells=[new_code_cell(
        f"import sys\nPRELOADED = {UNUSUAL_MODULE!r} in sys.modules")]))  # fmt: skip
    connection = judge.Connection(sandbox=sandbox, payload=payload, skip_tags=(), seed=1,
                                  limits=LIMITS)  # fmt: skip
    try:
        return judge.RemoteNamespace(connection).PRELOADED
    finally:
        connection.close()


@pytest.mark.slow
def test_the_sandbox_server_imports_the_labs_modules_before_it_forks():
    preloading = Sandbox(slot=11, preload=(UNUSUAL_MODULE, "no_such_module", "bad name; rm"))
    plain = Sandbox(slot=12)
    try:
        assert preloading.preload == (UNUSUAL_MODULE, "no_such_module")  # names only
        assert _probe(preloading) is True  # a module that fails to import is left out
        assert _probe(plain) is False
    finally:
        preloading.close()
        plain.close()


def _tiny_course_with_checks(root) -> None:
    """The tiny course's notebook, importing an unusual module and with a visible check that
    defines a name of its own."""
    nb = tiny_notebook()
    nb.cells.insert(1, new_code_cell(f"import {UNUSUAL_MODULE}"))
    check = new_code_cell("# Visible check\nCHECKED = double(3) == 6\nassert CHECKED")
    check.metadata["tags"] = ["visible-check"]
    nb.cells.append(check)
    nbformat.write(nb, root / "source" / "tiny" / "tiny.ipynb")


@pytest.mark.slow
def test_a_worker_preloads_the_labs_imports_and_leaves_visible_checks_out_of_the_reference(
        tiny_course):  # fmt: skip
    _tiny_course_with_checks(tiny_course)
    course = load_course(tiny_course)
    namespace = reference_run(course.lab("tiny")).namespace
    assert "double" in namespace and UNUSUAL_MODULE in namespace
    assert "CHECKED" not in namespace  # the visible check did not run in the reference
    try:
        judge.prepare(course, "tiny", "cpu")
        assert UNUSUAL_MODULE in judge.process_sandbox("cpu").preload
        verdict = judge.grade_notebook(course, "tiny", tiny_course / "source" / "tiny" / "tiny.ipynb")
        assert [record["outcome"] for record in verdict.records] == ["passed"]
    finally:
        judge.shutdown()
        judge._settings["preload"] = ()


CACHED_TEST = HIDDEN_TEST + '''

@pytest.mark.question("doubling")
@pytest.mark.points(1)
def test_double_of_a_cached_answer(sub, ref, rng, reference_answer):
    x = rng.normal(size=3)

    def expensive():
        with open({log!r}, "a") as log:
            log.write("computed\\n")
        return {{"twice": ref.double(x)}}

    expected = reference_answer("twice", expensive)
    assert (sub.double(x) == expected["twice"]).all()
    expected["twice"][:] = 0  # a copy: the next submission gets the answer untouched
'''


@pytest.mark.slow
def test_a_reference_answer_is_computed_once_per_worker_and_handed_out_as_copies(tiny_course):
    log = tiny_course / "computed.log"
    # a file name of its own: this process imported another course's test_tiny.py already
    (tiny_course / "tests" / "tiny" / "test_tiny.py").unlink()
    (tiny_course / "tests" / "tiny" / "test_cached_answer.py").write_text(
        CACHED_TEST.format(log=str(log)))
    config = tiny_course / "course_config.py"
    config.write_text(config.read_text().replace('"points": 2', '"points": 3'))
    course = load_course(tiny_course)
    notebook = tiny_course / "source" / "tiny" / "tiny.ipynb"
    try:
        for _ in range(3):
            verdict = judge.grade_notebook(course, "tiny", notebook)
            assert [record["outcome"] for record in verdict.records] == ["passed", "passed"]
    finally:
        judge.shutdown()
    assert log.read_text() == "computed\n"


def test_workers_after_the_first_wait_for_it_only_when_cores_are_short():
    assert not staggered(1, 2)
    assert staggered(2, 2) and staggered(4, 6)
    assert not staggered(2, 4) and not staggered(8, 64)
    assert staggered(2, None)  # unknown core count: the safe side
