"""Run a test cell of an nbgrader or Otter assignment in the submission's namespace.

An imported lab's hidden test sends one test cell here (the `test_cell` request of the sandbox's
child, see `autograder.sandbox.worker`); the cell runs as the original tool runs it, in the
namespace the student's notebook built (the dictionary its functions read their globals from,
so a cell that rebinds `squares` changes what `sum_of_squares` calls), and what it did comes back
as plain data for the trusted side to judge (`autograder.testing`). Three styles:

- `cell` (nbgrader): the cell runs as a Jupyter kernel runs it; back come its outputs in order,
  each `[kind, text]` with kind `stdout`, `stderr`, `result` (the text/plain of the last
  expression's value, formatted as IPython formats it) or `error` (`Type: message`).
- `doctest` (Otter's OK format): each example's source runs as `doctest` runs it (compiled in
  "single" mode, values printed by `sys.__displayhook__`); back come `[got, exception]` pairs,
  the printed text and, when it raised, the exception line doctest compares. The expected
  outputs never enter the sandbox.
- `function` (Otter's exception-based format): the test function is defined in globals of its
  own and called with the submission's values of its parameter names (`env`: the whole
  namespace), as Otter calls it; back come its outputs, an `error` when it raised.

The same code runs the reference's cells in the trusted process (`pytest tests/<lab>` with no
submission). Everything sent back is bounded (`MAX_OUTPUTS` entries of at most `MAX_TEXT`
characters). A time limit that fires while the cell runs (`interrupt`, the sandbox's own
exception) ends the cell with an error, as nbgrader interrupts a cell that runs too long, and
nothing more of the request runs.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import contextlib
import inspect
import sys
import traceback
from typing import Any

from autograder.core.notebook import without_magics

OUTPUT_KINDS = ("stdout", "stderr", "result", "error")
MAX_OUTPUTS = 64
MAX_EXAMPLES = 500
MAX_TEXT = 64 * 1024


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 15] + "\n[... cut off]"


def _error_line(error: BaseException) -> str:
    try:
        message = str(error)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        message = ""
    name = type(error).__name__
    return _cut(f"{name}: {message}" if message else name)


class _Outputs:
    """A cell's outputs in order, consecutive writes to one stream merged (as Jupyter shows
    them), bounded."""

    def __init__(self) -> None:
        self.items: list[list[str]] = []
        self.size = 0

    def add(self, kind: str, text: str) -> None:
        room = MAX_TEXT * 4 - self.size
        if room <= 0 or not text:
            return
        text = text[:room]
        self.size += len(text)
        if kind in ("stdout", "stderr") and self.items and self.items[-1][0] == kind:
            self.items[-1][1] = _cut(self.items[-1][1] + text)
        elif len(self.items) < MAX_OUTPUTS - 1 or kind in ("result", "error"):
            self.items.append([kind, _cut(text)])


class _Stream:
    """sys.stdout or sys.stderr while a cell runs."""

    def __init__(self, outputs: _Outputs, kind: str):
        self.outputs, self.kind = outputs, kind

    def write(self, text: Any) -> int:
        text = str(text)
        self.outputs.add(self.kind, text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _captured(outputs: _Outputs):
    saved = sys.stdout, sys.stderr, sys.displayhook
    sys.stdout, sys.stderr = _Stream(outputs, "stdout"), _Stream(outputs, "stderr")
    sys.displayhook = sys.__displayhook__
    try:
        yield
    finally:
        sys.stdout, sys.stderr, sys.displayhook = saved


def _plain_text(value: Any) -> str:
    """The text/plain a Jupyter kernel shows for `value` (IPython's pretty printer)."""
    from IPython.core.formatters import PlainTextFormatter

    return str(PlainTextFormatter()(value))


def run_cell(source: str, namespace: dict, interrupt: type[BaseException]) -> dict:
    """nbgrader: the cell runs as a kernel runs it; its outputs in order."""
    outputs = _Outputs()
    try:
        tree = ast.parse(without_magics(source), "<test cell>")
    except SyntaxError as error:
        outputs.add("error", _error_line(error))
        return {"outputs": outputs.items}
    body, last = tree.body, None
    # IPython shows the value of the cell's last statement when it is an expression, unless
    # the cell ends with a semicolon
    if body and isinstance(body[-1], ast.Expr) and not source.rstrip().endswith(";"):
        body, last = body[:-1], body[-1]
    with _captured(outputs):
        try:
            exec(compile(ast.Module(body, []), "<test cell>", "exec"), namespace)  # noqa: S102
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<test cell>", "eval"),  # noqa: S307
                             namespace)  # fmt: skip
                if value is not None:
                    outputs.add("result", _cut(_plain_text(value)))
        except interrupt as error:
            outputs.add("error", _error_line(error))
        except BaseException as error:  # noqa: BLE001 - SystemExit is a failed cell in a kernel too
            if isinstance(error, MemoryError):
                traceback.clear_frames(error.__traceback__)
            outputs.add("error", _error_line(error))
    return {"outputs": outputs.items}


def _future_flags(namespace: dict) -> int:
    """The compiler flags of the `__future__` imports in `namespace` (as doctest finds them)."""
    flags = 0
    for name in __future__.all_feature_names:
        feature = namespace.get(name)
        if feature is getattr(__future__, name):
            flags |= feature.compiler_flag
    return flags


def _doctest_exception_line(error: BaseException) -> str:
    """The exception text doctest compares with an example's expected exception."""
    formatted = traceback.format_exception_only(type(error), error)
    if isinstance(error, SyntaxError):  # only the message, not the carets (doctest, Python 3.11)
        prefixes = (f"{type(error).__qualname__}:",
                    f"{type(error).__module__}.{type(error).__qualname__}:")  # fmt: skip
        start = next((index for index, line in enumerate(formatted) if line.startswith(prefixes)),
                     0)  # fmt: skip
        formatted = formatted[start:]
    return _cut("".join(formatted))


def run_doctest(examples: list[str], namespace: dict, interrupt: type[BaseException]) -> dict:
    """Otter's OK format: each example as doctest runs it; [printed text, exception or None]."""
    results: list[list[str | None]] = []
    flags = _future_flags(namespace)
    for number, source in enumerate(examples[:MAX_EXAMPLES]):
        outputs = _Outputs()
        exception: str | None = None
        with _captured(outputs):
            try:
                code = compile(source, f"<doctest test[{number}]>", "single", flags, True)
                exec(code, namespace)  # noqa: S102
            except interrupt as error:
                results.append([_printed(outputs), _error_line(error)])
                break
            except BaseException as error:  # noqa: BLE001 - doctest catches all but Ctrl-C
                if isinstance(error, MemoryError):
                    traceback.clear_frames(error.__traceback__)
                exception = _doctest_exception_line(error)
        results.append([_printed(outputs), exception])
    return {"examples": results}


def _printed(outputs: _Outputs) -> str:
    return _cut("".join(text for kind, text in outputs.items if kind == "stdout"))


def run_function(source: str, name: str, namespace: dict, interrupt: type[BaseException]) -> dict:
    """Otter's exception-based format: define the test function apart, call it with the
    submission's values of its parameters (None for a name the notebook lacks)."""
    outputs = _Outputs()
    with _captured(outputs):
        try:
            own_globals: dict[str, Any] = {"__builtins__": builtins, "__name__": "otter_test"}
            exec(compile(source, "<test case>", "exec"), own_globals)  # noqa: S102
            function = own_globals[name]
            arguments = {parameter: namespace if parameter == "env" else namespace.get(parameter)
                         for parameter in inspect.signature(function).parameters}  # fmt: skip
            function(**arguments)
        except interrupt as error:
            outputs.add("error", _error_line(error))
        except BaseException as error:  # noqa: BLE001
            if isinstance(error, MemoryError):
                traceback.clear_frames(error.__traceback__)
            outputs.add("error", _error_line(error))
    return {"outputs": outputs.items}


def run(request: dict, namespace: dict, interrupt: type[BaseException] = KeyboardInterrupt) -> dict:
    """One `test_cell` request: {"style": ..., and "source", "examples" or "source" + "name"}."""
    style = request.get("style")
    if style == "cell":
        return run_cell(str(request["source"]), namespace, interrupt)
    if style == "doctest":
        return run_doctest([str(example) for example in request["examples"]], namespace, interrupt)
    if style == "function":
        return run_function(str(request["source"]), str(request["name"]), namespace, interrupt)
    raise ValueError(f"unknown test cell style {style!r}")


# ------------------------------------------------------------------ what the trusted side accepts


def _is_text(value: Any) -> bool:
    return type(value) is str and len(value) <= MAX_TEXT


def valid_result(result: Any) -> bool:
    """A `run` result as the trusted side accepts it: exactly the shapes above, bounded."""
    if type(result) is not dict or len(result) != 1:
        return False
    if "outputs" in result:
        items = result["outputs"]
        return type(items) is list and len(items) <= MAX_OUTPUTS and all(
            type(item) is list and len(item) == 2 and item[0] in OUTPUT_KINDS
            and _is_text(item[1]) for item in items)  # fmt: skip
    if "examples" in result:
        items = result["examples"]
        return type(items) is list and len(items) <= MAX_EXAMPLES and all(
            type(item) is list and len(item) == 2 and _is_text(item[0])
            and (item[1] is None or _is_text(item[1])) for item in items)  # fmt: skip
    return False
