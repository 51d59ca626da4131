"""Notebook cells run with IPython semantics; shell escapes are recorded, never run."""

from nbformat.v4 import new_code_cell, new_notebook

from autograder.execute import run_notebook


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
