"""Helpers that hidden tests import, beside the fixtures of `autograder.pytest_plugin`, and the
test context that travels with every call into the submission.

A hidden test is plain pytest, and its floating-point and warning settings mean what they mean in
plain pytest: a call `sub.f(x)` made under `np.errstate(over="raise")`, `np.seterr`,
`warnings.simplefilter("error")`, `warnings.catch_warnings()`, `pytest.warns(...)` or a
`filterwarnings` marker runs inside the sandbox with the same NumPy error state and the same
warnings filters (`call_context` takes them here, `applied_context` applies them there around the
call and restores them after). A warning the submission emits comes back and is raised again
here, so `pytest.warns` sees it; a warning the filters turn into an error, or a floating-point
error, reaches the test as the same exception (`RuntimeWarning`, `FloatingPointError`).

The hidden tests of a lab imported from nbgrader or Otter run the original test cells in the
submission's namespace inside the sandbox (`autograder.sandbox.test_cells`) and judge what came
back here as the original tool judges it (`run_nbgrader_cell`, `run_otter_doctest`,
`run_otter_function`); nbgrader's partial credit is a `PartialCredit`.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

MAX_WARNINGS = 20  # per call: the rest are counted, not sent
MAX_FILTERS = 200
ERRSTATE_KEYS = ("divide", "over", "under", "invalid")
ERRSTATE_VALUES = ("ignore", "warn", "raise", "call", "print", "log")
FILTER_ACTIONS = ("error", "ignore", "always", "default", "module", "once")


def strict_call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a submission's function with floating-point overflow, invalid results and division
    by zero as errors, and NumPy's RuntimeWarnings as errors.

    A naive `1 / (1 + np.exp(-n))` returns the right value at n = -1000 but overflows on the
    way; under strict_call it raises FloatingPointError, so a hidden test can tell the two apart.
    The same as calling inside `np.errstate(over="raise", invalid="raise", divide="raise")`
    with `warnings.simplefilter("error", RuntimeWarning)`; use those directly for narrower rules.
    """
    remote = getattr(type(function), "__remote_call__", None)
    if remote is not None:  # a function of the submission: the same rules inside the sandbox
        return remote(function, args, kwargs, strict=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return function(*args, **kwargs)


@contextlib.contextmanager
def trained_model(sub: Any, what: str, name: str = "model") -> Iterator[Any]:
    """The model a notebook's graded training cell left in `sub.<name>`, for a quality test: on
    the CPU, in eval() mode, with autograd off in the submission for the block (restored after).

    A name bound to plain data instead (a number, an array, a list) fails the test, saying that
    `name` must be `what`.
    """
    import torch

    model = getattr(sub, name)
    assert not isinstance(model, int | float | str | list | tuple | dict | np.ndarray
                          | torch.Tensor), f"`{name}` must be {what}"  # fmt: skip
    sub.torch.set_grad_enabled(False)
    try:
        model.cpu()
        model.eval()
        yield model
    finally:
        sub.torch.set_grad_enabled(True)


def within_the_training_budget(sub: Any, budget_s: float, name: str = "train_cpu_s") -> None:
    """Fail unless a notebook's graded training cell stayed within `budget_s` seconds of CPU
    time, as the cell's given lines measured it (`time.process_time()` around the cell) into
    `sub.<name>`. The grader counts CPU time too, so a busy machine does not change the verdict."""
    used = getattr(sub, name)
    assert isinstance(used, int | float) and not isinstance(used, bool) and math.isfinite(used), (
        f"`{name}` must hold the CPU seconds your graded training cell used: keep the cell's given "
        "lines as they are"
    )
    assert used <= budget_s, (
        f"your graded training cell used {used:.1f} s of CPU time, more than the training budget "
        f"of {budget_s:g} s: the quality points need a model trained within the budget"
    )


# ------------------------------------------------------------------ the context of a call


def _category_name(category: type) -> str:
    return f"{category.__module__}.{category.__qualname__}"


def warning_category(name: str) -> type[Warning] | None:
    """The warning class named `module.qualname`, if that module is already loaded (a filter
    for a class the other side never imports can match nothing there).

    The name may come from the sandbox: it is looked up in the namespaces' own dictionaries
    only, so no module `__getattr__`, lazy import or descriptor of the trusted process runs.
    """
    module_name, _, qualname = str(name).rpartition(".")
    found: Any = sys.modules.get(module_name) if module_name != "builtins" else builtins
    for part in qualname.split(".") if found is not None else ():
        found = vars(found).get(part) if hasattr(found, "__dict__") else None
    return found if isinstance(found, type) and issubclass(found, Warning) else None


def _pattern(regex: Any) -> str:
    """A filter's message or module: None, a compiled regex, or (set by -W) a plain string."""
    return "" if regex is None else str(getattr(regex, "pattern", regex))


def call_context() -> dict[str, Any]:
    """This process's NumPy error state and warnings filters, as plain data."""
    filters = []
    for action, message, category, module, lineno in warnings.filters[:MAX_FILTERS]:
        filters.append([action, _pattern(message), _category_name(category), _pattern(module),
                        int(lineno)])
    errstate = np.geterr()
    return {"errstate": {key: errstate[key] for key in ERRSTATE_KEYS}, "filters": filters}


def _apply_filters(filters: list) -> None:
    """Replace the warnings filters with `filters` (last first, as `filterwarnings` inserts)."""
    warnings.resetwarnings()
    for action, message, category_name, module, lineno in reversed(filters):
        category = warning_category(category_name)
        if category is None or action not in FILTER_ACTIONS:
            continue
        warnings.filterwarnings(action, str(message), category, str(module), int(lineno))


@contextlib.contextmanager
def applied_context(context: dict | None, caught: list[dict]) -> Iterator[None]:
    """Run a block under a `call_context()` taken in the other process; append the warnings the
    block emits (and the filters let through) to `caught` as plain data. Restores on exit."""
    if not context:
        yield
        return
    errstate = {key: value for key, value in dict(context.get("errstate") or {}).items()
                if key in ERRSTATE_KEYS and value in ERRSTATE_VALUES and value != "call"}
    with np.errstate(**errstate), warnings.catch_warnings(record=True) as recorded:
        _apply_filters(list(context.get("filters") or []))
        try:
            yield
        finally:
            for record in recorded[:MAX_WARNINGS]:
                caught.append({"category": _category_name(record.category)[:200],
                               "message": str(record.message)[:500],
                               "lineno": int(record.lineno or 0)})  # fmt: skip


def raise_warnings_again(caught: list) -> None:
    """Emit here the warnings a call emitted in the sandbox, so that this process's filters,
    `pytest.warns` and `recwarn` see them as if the submission ran in the test's process."""
    for record in caught[:MAX_WARNINGS]:
        category = warning_category(record["category"]) or UserWarning
        warnings.warn_explicit(str(record["message"]), category, "<submission>",
                               int(record["lineno"]), module="submission")  # fmt: skip


# ------------------------------------------------------------------ test cells of other tools


class PartialCredit(AssertionError):
    """A test that earned part of its points (`earned`), with the reason: the recorder keeps
    the points, the message is shown like a failed assertion's."""

    def __init__(self, earned: float, message: str):
        super().__init__(message)
        self.earned = earned


def _where(label: str, text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{label}: {line[:250]}" if line else label


def nbgrader_credit(outputs: list, points: float) -> tuple[float, str]:
    """The points nbgrader gives an autograder test cell with these outputs, and why not all
    (nbgrader.utils.determine_grade): an error or anything on stderr earns nothing; a value the
    cell shows that reads as a number from 0 to the cell's points is partial credit (another
    value, or none, earns every point)."""
    for kind, text in outputs:
        if kind == "error":
            return 0.0, text
        if kind == "stderr":
            return 0.0, f"the cell wrote to stderr: {text}"
        if kind == "result":
            try:
                grade = float(text)
            except ValueError:
                return points, ""
            if grade < 0:
                return points, ""
            if grade > points:
                return 0.0, f"the cell shows {grade:g} points, more than its {points:g}"
            return grade, f"partial credit: the cell shows {grade:g} of its {points:g} points"
    return points, ""


def run_nbgrader_cell(sub: Any, source: str, points: float, label: str) -> None:
    """An nbgrader autograder test cell, run in the submission's namespace as nbgrader runs it;
    passes with the points nbgrader gives (`nbgrader_credit`)."""
    result = sub._run_test_cell({"style": "cell", "source": source})
    earned, why = nbgrader_credit(result["outputs"], points)
    if earned >= points:
        return
    if earned > 0:
        raise PartialCredit(earned, _where(label, why))
    raise AssertionError(_where(label, why))


def run_otter_doctest(sub: Any, doctest_text: str, label: str) -> None:
    """An Otter test case in the OK format (a doctest: the case's code and the output the master
    notebook showed), as Otter runs it with `doctest`: the examples run in the submission's
    namespace, each output is compared here with what the master showed."""
    import doctest

    examples = doctest.DocTestParser().get_examples(doctest_text, label)
    checker = doctest.OutputChecker()
    to_run, flags_of = [], []
    for example in examples:
        flags = 0
        for flag, on in example.options.items():
            flags = flags | flag if on else flags & ~flag
        if not flags & doctest.SKIP:
            to_run.append(example)
            flags_of.append(flags)
    result = sub._run_test_cell({"style": "doctest", "examples": [e.source for e in to_run]})
    ran = result["examples"]
    for index, (example, flags) in enumerate(zip(to_run, flags_of)):
        if index >= len(ran):
            raise AssertionError(f"{label}: stopped before its example {index + 1}")
        got, exception = ran[index]
        if exception is None:
            passed = checker.check_output(example.want, got, flags)
        elif example.exc_msg is None:
            raise AssertionError(_where(f"{label}: example {index + 1} raised", exception))
        else:
            passed = checker.check_output(example.exc_msg, exception, flags) or bool(
                flags & doctest.IGNORE_EXCEPTION_DETAIL and checker.check_output(
                    doctest._strip_exception_details(example.exc_msg),  # noqa: SLF001
                    doctest._strip_exception_details(exception), flags))  # noqa: SLF001
        if not passed:  # what the submission showed, never the test's code or its answer
            shown = (got if exception is None else exception).strip() or "nothing"
            raise AssertionError(f"{label}: example {index + 1} shows {shown[:120]!r}, not the "
                                 "expected output")  # fmt: skip


def run_otter_function(sub: Any, source: str, name: str, label: str) -> None:
    """An Otter test case in the exception-based format: the test function, called with the
    submission's values of its parameters, passes when it raises nothing."""
    result = sub._run_test_cell({"style": "function", "source": source, "name": name})
    for kind, text in result["outputs"]:
        if kind == "error":
            raise AssertionError(_where(label, text))

