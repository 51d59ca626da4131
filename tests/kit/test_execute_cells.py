"""Notebook cells run with IPython semantics; shell escapes are recorded, never run."""

from nbformat.v4 import new_code_cell, new_notebook

from autograder.sandbox.execute import run_notebook


def _notebook(*sources, tags=None):
    cells = [new_code_cell(source) for source in sources]
    for index, cell_tags in (tags or {}).items():
        cells[index].metadata["tags"] = cell_tags
    return new_notebook(cells=cells)


def test_magics_and_last_expression_work(tmp_path):
    run = run_notebook(_notebook("%matplotlib inline\nimport matplotlib.pyplot as plt\nx = 2", "x * 3"), cwd=tmp_path)
    assert [cell.error for cell in run.cells] == [None, None]
    assert run.namespace["x"] == 2 and "Out[" in run.output


def test_shell_escapes_are_recorded_not_run(tmp_path):
    marker = tmp_path / "ran"
    run = run_notebook(_notebook(f"!touch {marker}", f"%%bash\ntouch {marker}\n", "y = 1"), cwd=tmp_path)
    assert not marker.exists()
    assert run.cells[0].notes == [f"shell command not run: !touch {marker}"]
    assert run.cells[1].notes == ["shell cell not run: %%bash"]
    assert run.namespace["y"] == 1


def test_a_failing_cell_does_not_stop_later_cells(tmp_path):
    run = run_notebook(_notebook("1 / 0", "z = 5"), cwd=tmp_path)
    assert run.cells[0].error == "ZeroDivisionError: division by zero"
    assert run.namespace["z"] == 5 and [cell.index for cell in run.errors] == [0]


def test_cells_with_a_skipped_tag_do_not_run(tmp_path):
    run = run_notebook(_notebook("a = 1", "a = 2", tags={1: ["demo"]}), skip_tags=("demo",), cwd=tmp_path)
    assert run.namespace["a"] == 1 and [cell.index for cell in run.cells] == [0]


MEMORY_LIMITED_RUN = """
import resource, sys
from nbformat.v4 import new_code_cell, new_notebook
from autograder.sandbox.execute import run_notebook

bomb = "def bomb():\\n    hog = []\\n    while True:\\n        hog.append(bytearray(2**24))\\nbomb()"
after = "room = len(bytearray(400 * 2**20))"
with open("/proc/self/statm") as statm:
    in_use = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (in_use + 600 * 2**20,) * 2)
run = run_notebook(new_notebook(cells=[new_code_cell(bomb), new_code_cell(after)]), cwd=sys.argv[1])
print([cell.error for cell in run.cells], run.namespace.get("room"))
"""


def test_a_cell_that_runs_out_of_memory_gives_its_memory_back(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", MEMORY_LIMITED_RUN, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"['MemoryError: ', None] {400 * 2**20}", done.stdout
