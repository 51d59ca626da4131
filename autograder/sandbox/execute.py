"""Execute a notebook's code cells into a namespace, with IPython semantics.

Cells run one after another in a fresh `InteractiveShell`, so line magics such as
`%matplotlib inline` behave as in Jupyter. A failing cell does not stop the run: later cells may
still define graded functions, exactly as when a student runs all cells and ignores an error.
Shell escapes (`!cmd`, `%%bash`, ...) are never run; they are recorded as cell notes instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from autograder.core.notebook import code_cells, grade_id_of

SHELL_CELL_MAGICS = ("bash", "sh", "script", "system", "sx", "perl", "ruby", "python2", "python3")
MAX_CAPTURED_OUTPUT = 64 * 1024


@dataclass
class CellResult:
    index: int  # the cell's position in the notebook, all cells counted (0-based)
    grade_id: str | None = None  # nbgrader's name of the cell, when it has one
    error: str | None = None  # "ValueError: ..." when the cell raised
    notes: list[str] = field(default_factory=list)


@dataclass
class NotebookRun:
    namespace: dict[str, Any]
    cells: list[CellResult]
    output: str  # what the cells printed, cut to MAX_CAPTURED_OUTPUT
    # The shell's own namespace, which the notebook's functions read their globals from: test
    # cells of imported labs run in it (`autograder.sandbox.test_cells`)
    globals: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[CellResult]:
        return [cell for cell in self.cells if cell.error]


class _BoundedBuffer(io.StringIO):
    """Keeps the first MAX_CAPTURED_OUTPUT characters and drops the rest."""

    def write(self, text: str) -> int:
        room = MAX_CAPTURED_OUTPUT - self.tell()
        if room > 0:
            super().write(text[:room])
        return len(text)


def _release_failed_cell_memory(shell: Any, etype: type, value: BaseException, tb: Any,
                                tb_offset: int | None = None) -> None:
    """A cell that ran out of memory still holds what it allocated through its traceback's
    frames (and IPython keeps the last traceback); free it, so later cells and the harness itself
    can go on under the same memory limit."""
    traceback.clear_frames(tb)
    sys.last_traceback = sys.last_value = sys.last_type = None
    print(f"MemoryError: the cell ran out of memory {value}".rstrip(), file=sys.stderr)


def _new_shell(notes: list[str]):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class NotebookShell(InteractiveShell):
        def enable_gui(self, gui=None):  # `%matplotlib inline` asks for it; no GUI here
            return None

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    shell = NotebookShell(config=config)

    def refuse_system(cmd: str, *args: Any, **kwargs: Any) -> None:
        notes.append(f"shell command not run: !{cmd.strip()[:80]}")

    shell.system = refuse_system
    shell.set_custom_exc((MemoryError,), _release_failed_cell_memory)
    shell.getoutput = refuse_system

    def refuse_cell_magic(line: str, cell: str, *, name: str) -> None:
        notes.append(f"shell cell not run: %%{name}")

    for name in SHELL_CELL_MAGICS:
        shell.register_magic_function(
            lambda line, cell=None, _name=name: refuse_cell_magic(line, cell or "", name=_name),
            magic_kind="cell",
            magic_name=name,
        )
    return shell


def warm_up(modules: list[str] | tuple[str, ...] = ()) -> None:
    """Pay once per process what a lab's notebooks make every fresh process pay: importing
    `modules` (the lab's own imports; one that fails is left for the notebook to report) and
    PyTorch, whose optimizers are spared their import of torch._dynamo (`lazy_dynamo`). The
    sandbox's server does it before it forks a child per submission, the grader before its
    reference run."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the notebook will say it, in the submission's notes
            pass
    from autograder.sandbox.lazy_dynamo import defer_dynamo_import

    defer_dynamo_import()


def run_notebook(
    nb: NotebookNode, skip_tags: tuple[str, ...] = (), cwd: Path | None = None,
    guard: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> NotebookRun:
    """Run the code cells of `nb` (leaving out `skip_tags`) and return the resulting namespace.

    Each cell runs inside a fresh `guard()` context (the sandbox's time limits): what it raises
    past IPython, for example a limit firing between the cell's last line and the guard's exit,
    is that cell's error.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    cells: list[CellResult] = []
    notes: list[str] = []
    shell = _new_shell(notes)
    buffer = _BoundedBuffer()
    previous_dir = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            for index, source in code_cells(nb, skip_tags):
                notes.clear()
                try:
                    with guard():
                        result = shell.run_cell(source, store_history=False)
                    error = result.error_before_exec or result.error_in_exec
                except BaseException as escaped:  # noqa: BLE001 - a limit outside the cell's code
                    if isinstance(escaped, KeyboardInterrupt | SystemExit):
                        raise
                    error = escaped
                cells.append(
                    CellResult(
                        index=index,
                        grade_id=grade_id_of(nb.cells[index]),
                        error=f"{type(error).__name__}: {error}"[:500] if error else None,
                        notes=list(notes),
                    )
                )
    finally:
        os.chdir(previous_dir)
        shell.cleanup()
    namespace = {k: v for k, v in shell.user_ns.items() if not k.startswith("_")}
    return NotebookRun(namespace=namespace, cells=cells, output=buffer.getvalue(),
                       globals=shell.user_ns)
