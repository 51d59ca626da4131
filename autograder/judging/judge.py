"""The judge: hidden tests in the trusted process, reaching the submission through the boundary.

`sub` in a hidden test is a `RemoteNamespace`. `sub.sigmoid` asks the sandbox for the name:
plain data comes back decoded (base-class lists, dicts, ndarrays, tensors); anything else comes
back as a `RemoteObject` handle, which can be called (`sub.SimpleRNN(2, 3, 1)`, `model(x)`), and
whose attributes can be read and set (`rnn.IW_11 = w`, `rnn.forward(x)`, `model.LW_11.weight`).
An exception inside the sandbox is raised here as the built-in exception of the same name when
there is one (NotImplementedError, ValueError, ...), else as `SubmissionRaised`; its message is
the student's own.

A test that crashes or times out the sandbox fails; the next test starts a fresh sandbox child and
executes the notebook again (see `autograder.sandbox.sandbox` for the policy). `grade_notebook`
runs the hidden tests in this process with `pytest.main`, so a long-lived grading worker pays for
imports, the reference notebook and the sandbox server once.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.core.config import Course, Lab
from autograder.core.errors import GraderFault
from autograder.core.notebook import (
    NotebookError,
    cell_tags,
    grade_id_of,
    notebook_imports,
    read_notebook,
)
from autograder.judging.feedback import fail_missing_name
from autograder.judging.hidden_tests import PYTEST_ENV, pytest_arguments, pytest_failure
from autograder.judging.imported_labs import (
    ORIGINAL_TESTS_TAG,
    is_original_tool_test,
    seeded_source,
)
from autograder.judging.submission_errors import MissingName, SubmissionRaised
from autograder.sandbox import (
    MAX_RESTARTS,
    Limits,
    Sandbox,
    SandboxCrashed,
    SandboxError,
    SandboxLimit,
    SandboxTimeout,
    SandboxUnavailable,
    Session,
    boundary,
)
from autograder.testing import call_context, raise_warnings_again

BUILTIN_ERRORS = {
    name: getattr(builtins, name)
    for name in ("NotImplementedError", "ValueError", "TypeError", "IndexError", "KeyError",
                 "AttributeError", "ZeroDivisionError", "RuntimeError", "FloatingPointError",
                 "OverflowError", "ArithmeticError", "LookupError", "NameError", "AssertionError",
                 "UnboundLocalError", "RecursionError", "StopIteration",
                 # a warning that the test's filters turn into an error (see autograder.testing)
                 "Warning", "UserWarning", "RuntimeWarning", "DeprecationWarning", "FutureWarning",
                 "PendingDeprecationWarning", "SyntaxWarning", "ImportWarning", "UnicodeWarning",
                 "BytesWarning", "ResourceWarning", "EncodingWarning")
}  # fmt: skip


# A test cell of an imported lab is interrupted by the child this long before the grader's own
# backstop against sleeping code would end the sandbox, so its answer arrives in time (the child
# looks every IDLE_TICK_S, the grader every POLL_S).
IDLE_MARGIN_S = 2.0


def notebook_payload(nb: Any, lab: Lab | None = None) -> dict:
    """The parts of a notebook the sandbox needs: code cells with their tags and grade_id, no
    outputs; other cells stay as empty placeholders, so cell positions are the notebook's own.
    A lab imported from Otter may seed every cell, as Otter's grader does (`Lab.cell_seed`)."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            cells.append({"cell_type": "raw", "source": "", "metadata": {}})
            continue
        metadata: dict[str, Any] = {"tags": cell_tags(cell)}
        if is_original_tool_test(cell):  # skipped by labs imported from nbgrader or Otter
            metadata["tags"].append(ORIGINAL_TESTS_TAG)
        if grade_id_of(cell):
            metadata["nbgrader"] = {"grade_id": grade_id_of(cell)}
        source = cell.source
        if lab is not None and lab.cell_seed is not None:
            source = seeded_source(source, lab.cell_seed, lab.cell_seed_variable)
        cells.append({"cell_type": "code", "source": source, "metadata": metadata,
                      "outputs": [], "execution_count": None})  # fmt: skip
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


@dataclass
class Connection:
    """A submission in the sandbox: restarts a fresh child after a crash, up to MAX_RESTARTS.

    Each test has `test_timeout_s` of CPU time for all its calls together, counted from the
    kernel's accounting of the submission's process (the sandbox stops the child when it is
    spent, and this side watches too: see `Session.window`), and a backstop of `wall_factor`
    times that of time spent neither running nor waiting to run. A child that cannot even start
    is the grader's fault: the sandbox is replaced and the child started once more, and if that
    fails too, every test of the submission is a fault, never a grade (SandboxUnavailable).
    """

    sandbox: Sandbox
    payload: dict
    skip_tags: tuple[str, ...]
    seed: int
    limits: Limits
    session: Session | None = None
    generation: int = 0
    restarts: int = 0
    fatal: SandboxError | None = None
    in_test: bool = False
    test_cpu: float = 0.0  # CPU time the current test's calls have used
    test_idle: float = 0.0  # and time they spent neither running nor waiting to run
    student_seconds: float = 0.0
    notebook_report: dict = field(default_factory=dict)
    cells_run: list[dict] = field(default_factory=list)  # imported test cells run so far
    cells_generation: int = 0  # the session they ran in

    def begin_test(self, active: bool) -> None:
        self.in_test = active
        self.test_cpu = 0.0
        self.test_idle = 0.0

    def current(self) -> Session:
        if self.fatal is not None:
            raise type(self.fatal)(self.fatal.message)
        if self.session is not None and not self.session.dead:
            return self.session
        if self.session is not None:  # crashed in an earlier test: start again
            self.student_seconds += self.session.student_seconds
            if self.restarts >= MAX_RESTARTS:
                self.fatal = SandboxCrashed(
                    f"{self.session.dead}; the sandbox stopped {self.restarts + 1} times, so the "
                    "remaining tests were not run"
                )
                raise self.fatal
            self.restarts += 1
        try:
            self.session = self._open()
        except SandboxError as error:
            self.fatal = type(error)(f"while running the notebook: {error.message}")
            raise self.fatal from None
        self.generation += 1
        if self.in_test:  # a restart inside a test does not eat the test's time
            self.begin_test(True)
        if not self.notebook_report:
            self.notebook_report = self.session.report
        return self.session

    def _open(self) -> Session:
        """The notebook run in a fresh child; a child the sandbox could not start is tried once
        more in a fresh sandbox (its server started anew) before the grader gives up."""
        try:
            return self.sandbox.open(self.payload, self.skip_tags, self.seed, self.limits)
        except SandboxUnavailable:
            self.sandbox.kill()
            return self.sandbox.open(self.payload, self.skip_tags, self.seed, self.limits)

    def _send(self, session: Session, message: dict) -> dict:
        """A request under the current test's limits; its reply, or the error it raised."""
        limit = self.limits.test_timeout_s
        if self.in_test:
            cpu_before, idle_before = self.test_cpu, self.test_idle
        else:  # a call outside a test (a fixture): one test's limits for this call alone
            cpu_before = idle_before = 0.0
        window = session.window(limit, cpu_before, idle_before)
        cpu_at_start = session.main_cpu_seconds()
        if message.get("op") == "test_cell":  # the child interrupts it before our backstop
            message = {**message, "idle_s": max(window.idle_limit - idle_before - IDLE_MARGIN_S,
                                                 0.05)}  # fmt: skip
        reply = session.request(message, window, limit - cpu_before)
        cpu_at_end = session.main_cpu_seconds()
        measured = cpu_at_end - cpu_at_start if None not in (cpu_at_start, cpu_at_end) else 0.0
        if self.in_test:  # what the child says it used, unless the kernel saw more
            self.test_cpu += max(reply["cpu"], measured)
            self.test_idle = max(self.test_idle, window.idle)
        if reply["op"] == "error":
            type_name, text = reply["type"][:80], reply["message"][:500]
            if type_name == "MemoryError":
                raise SandboxLimit(
                    f"the sandbox stopped your code: memory limit of {self.limits.memory_mb} MB "
                    "exceeded"
                )
            if type_name in ("SystemExit", "KeyboardInterrupt"):
                raise SubmissionRaised(type_name, f"your code called exit() ({text})")
            error_class = BUILTIN_ERRORS.get(type_name)
            raise error_class(text) if error_class else SubmissionRaised(type_name, text)
        return reply

    def request(self, message: dict, generation: int | None = None) -> Any:
        session = self.current()
        if generation is not None and generation != self.generation:
            raise SandboxCrashed("this object belonged to a sandbox that has stopped")
        # the test's NumPy error state and warnings filters hold inside the sandbox for this call
        reply = self._send(session, {**message, "context": call_context()})
        if reply.get("missing"):
            raise MissingName(message.get("name", ""))
        value = session.decode(reply["value"], self._handle)
        raise_warnings_again(reply.get("warnings", []))
        return value

    def run_test_cell(self, request: dict) -> dict:
        """Run a test cell of an imported lab in the submission's namespace, inside the sandbox
        (`autograder.sandbox.test_cells`): what it did, as plain data for the test to judge.

        The test cells of a lab share the namespace, in order, as in nbgrader and Otter (a cell
        may use what an earlier one defined): when the sandbox restarted since the earlier
        cells ran, they run again first. No warnings filters go along: a warning the cell
        emits is written to its stderr, as in a kernel.
        """
        session = self.current()
        if self.cells_generation != self.generation:
            for earlier in self.cells_run:
                self._send(session, {**earlier, "op": "test_cell"})
            self.cells_generation = self.generation
        reply = self._send(session, {**request, "op": "test_cell"})
        self.cells_run.append(request)
        return reply["cell"]

    def _handle(self, data: dict) -> RemoteObject:
        return RemoteObject(self, data["id"], str(data.get("type", "object"))[:100],
                            bool(data.get("callable")), self.generation)  # fmt: skip

    def close(self) -> None:
        if self.session is not None:
            self.student_seconds += self.session.student_seconds
            self.session.close()
            self.session = None


def _encode_args(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, RemoteObject):
            return {"t": "handle", "id": object.__getattribute__(value, "_id")}
        if isinstance(value, list | tuple):
            items = [plain(item) for item in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    def enc(value: Any) -> Any:
        return _encode_with_handles(plain(value))

    return enc(list(args)), enc(dict(kwargs))


def _encode_with_handles(value: Any) -> Any:
    if isinstance(value, dict) and value.get("t") == "handle" and len(value) == 2:
        return value
    if type(value) is list:
        return [_encode_with_handles(item) for item in value]
    if type(value) is tuple:
        return {"t": "tuple", "v": [_encode_with_handles(item) for item in value]}
    if type(value) is dict:
        return {"t": "dict", "v": [[boundary.encode(k), _encode_with_handles(v)]
                                   for k, v in value.items()]}  # fmt: skip
    return boundary.encode(value)


class RemoteObject:
    """A handle to an object that stays in the sandbox."""

    __slots__ = ("_connection", "_id", "_type", "_callable", "_generation")

    def __init__(self, connection: Connection, handle_id: int, type_name: str, is_callable: bool,
                 generation: int):  # fmt: skip
        object.__setattr__(self, "_connection", connection)
        object.__setattr__(self, "_id", handle_id)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_callable", is_callable)
        object.__setattr__(self, "_generation", generation)

    def _request(self, message: dict) -> Any:
        connection = object.__getattribute__(self, "_connection")
        return connection.request(message, object.__getattribute__(self, "_generation"))

    def __remote_call__(self, args: tuple, kwargs: dict, strict: bool = False) -> Any:
        encoded_args, encoded_kwargs = _encode_args(args, kwargs)
        return self._request({"op": "call", "target": object.__getattribute__(self, "_id"),
                              "args": encoded_args, "kwargs": encoded_kwargs, "strict": strict})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__remote_call__(args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._request({"op": "getattr", "target": object.__getattribute__(self, "_id"),
                              "name": name})  # fmt: skip

    def __setattr__(self, name: str, value: Any) -> None:
        encoded = _encode_args((value,), {})[0][0]
        self._request({"op": "setattr", "target": object.__getattribute__(self, "_id"),
                       "name": name, "value": encoded})  # fmt: skip

    def __repr__(self) -> str:
        return f"<{object.__getattribute__(self, '_type')} in the sandbox>"

    # an object in the sandbox is never equal to trusted data
    def __eq__(self, other: Any) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return True


class RemoteNamespace:
    """`sub`: the names the submission's notebook defined, through the boundary."""

    def __init__(self, connection: Connection, label: str = "notebook"):
        self._connection = connection
        self._label = label

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._connection.request({"op": "get", "name": name})
        except MissingName:
            fail_missing_name(self._label, name)

    def __contains__(self, name: str) -> bool:
        try:
            self._connection.request({"op": "get", "name": name})
        except MissingName:
            return False
        return True

    def _run_test_cell(self, request: dict) -> dict:
        """A test cell of an imported lab, run in this namespace (`Connection.run_test_cell`)."""
        return self._connection.run_test_cell(request)


# ------------------------------------------------------------------ per-process sandbox state

_sandbox: Sandbox | None = None
_connections: dict[tuple[str, str], Connection] = {}
_settings: dict[str, Any] = {"slot": 0, "device": None, "preload": ()}


def configure(slot: int = 0, device: str | None = None) -> None:
    """Which sandbox slot (uid) and device this process grades with."""
    _settings.update(slot=slot, device=device)


def process_sandbox(device: str) -> Sandbox:
    """This process's sandbox (its server is started on first use and kept between
    submissions)."""
    global _sandbox
    if _sandbox is None or _sandbox.device != device:
        if _sandbox is not None:
            _sandbox.close()
        _sandbox = Sandbox(slot=int(_settings["slot"]), device=device,
                           preload=tuple(_settings["preload"]))  # fmt: skip
    return _sandbox


def prepare(course: Course, lab_id: str, device: str) -> None:
    """Pay a grading worker's fixed costs at once and side by side: the sandbox server starts
    (its imports, the lab's included, take seconds) while this process runs the reference
    notebook and warms up as the server does. Only a head start: anything that fails here fails
    again, with its message, when the first submission is graded."""
    from autograder.judging.reference import reference_run
    from autograder.sandbox.execute import warm_up

    configure(int(_settings["slot"]), device)
    lab = course.lab(lab_id)
    try:
        _settings["preload"] = tuple(notebook_imports(read_notebook(lab.notebook), lab.skip_tags))
    except NotebookError:
        pass
    try:
        process_sandbox(device).launch()
    except Exception:  # noqa: BLE001 - see the docstring
        pass
    try:
        warm_up()
        reference_run(lab)
    except Exception:  # noqa: BLE001
        pass


def connect(course: Course, lab_id: str, submission: Path, device: str) -> Connection:
    """The connection to `submission` for this pytest session (created on first use)."""
    key = (str(submission), lab_id)
    if key not in _connections:
        lab = course.lab(lab_id)
        try:
            nb = read_notebook(submission)
        except NotebookError as error:
            raise SandboxError(str(error)) from None
        _connections[key] = Connection(
            sandbox=process_sandbox(device), payload=notebook_payload(nb, lab),
            skip_tags=lab.skip_tags, seed=course.sandbox_seed(lab_id), limits=Limits.of(lab),
        )  # fmt: skip
    return _connections[key]


def close_connections() -> list[Connection]:
    closed = list(_connections.values())
    for connection in closed:
        connection.close()
    _connections.clear()
    return closed


def begin_test(active: bool = True) -> None:
    """A hidden test starts: its calls share one test's CPU time and wall-clock backstop."""
    for connection in _connections.values():
        connection.begin_test(active)


def end_test() -> None:
    for connection in _connections.values():
        connection.begin_test(False)


# ------------------------------------------------------------------ grading one notebook


@dataclass
class Verdict:
    records: list[dict]
    notebook_report: dict
    student_seconds: float
    wall_seconds: float
    sandbox_mode: str


_test_folders: list[str] = []  # the hidden-test folders pytest has imported from in this process


def _forget_other_tests(folders: list[Path]) -> None:
    """pytest imports a lab's test modules (and the course's tests/conftest.py) under their plain
    names and keeps them in sys.modules: a worker that grades another lab, another course, or
    the same course unpacked into a new folder by a later command (a standing Dask cluster) must
    not find the earlier ones ("import file mismatch"). Forget every module and sys.path entry
    of the hidden-test folders used before (a lab's, a course's tests/), unless in use now."""
    current = [str(folder.resolve()) for folder in folders]
    others = [folder for folder in _test_folders if folder not in current]
    if others:
        def elsewhere(path: str) -> bool:
            return any(path == folder or path.startswith(folder + os.sep) for folder in others)

        for name, module in list(sys.modules.items()):
            if elsewhere(str(getattr(module, "__file__", None) or "")):
                del sys.modules[name]
        sys.path[:] = [entry for entry in sys.path if not elsewhere(entry)]
    _test_folders[:] = current


def grade_notebook(course: Course, lab_id: str, submission: Path, device: str = "cpu") -> Verdict:
    """Run the lab's hidden tests on `submission` in this process; one record per test."""
    import pytest

    started = time.perf_counter()
    _forget_other_tests([course.tests_dir(lab_id), course.tests_dir(lab_id).parent])
    configure(int(_settings["slot"]), device)
    os.environ["COURSELIB_DEVICE"] = device
    with tempfile.TemporaryDirectory(prefix="autograder-judge-") as scratch:
        results = Path(scratch) / "results.json"
        # pytest's unraisable/thread-exception plugins run gc.collect() twice per session
        # (0.6 s here); fd-level capture and log capture cost per test: all left out.
        args = [*pytest_arguments(course, lab_id, results),
                "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:logging",
                "--capture=sys", "--submission", str(Path(submission).resolve())]  # fmt: skip
        sink = io.StringIO()
        previous = os.getcwd()
        saved_env = {name: os.environ.get(name) for name in PYTEST_ENV}
        try:
            os.chdir(course.root)
            os.environ.update(PYTEST_ENV)
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                code = pytest.main(args)
        finally:
            os.chdir(previous)
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        if not results.exists() or code not in (0, 1):
            process_sandbox(device).kill()
            raise GraderFault(pytest_failure(sink.getvalue(), lab_id))
        records = json.loads(results.read_text())
    faults = [record["message"] for record in records if record["outcome"] == "fault"]
    if faults:  # a test the grader could not run: no grade for this notebook, and a fresh start
        process_sandbox(device).kill()
        raise GraderFault(faults[0])
    info = _last_session.copy()
    return Verdict(
        records=records,
        notebook_report=info.get("report", {}),
        student_seconds=info.get("student_seconds", 0.0),
        wall_seconds=time.perf_counter() - started,
        sandbox_mode=process_sandbox(device).mode,
    )


_last_session: dict[str, Any] = {}


def finish_session() -> None:
    """Close this pytest session's connections and keep their notebook report for the verdict."""
    closed = close_connections()
    _last_session.clear()
    if closed:
        _last_session["report"] = closed[0].notebook_report
        _last_session["student_seconds"] = sum(c.student_seconds for c in closed)


def shutdown() -> None:
    global _sandbox
    close_connections()
    if _sandbox is not None:
        _sandbox.close()
        _sandbox = None


__all__ = [
    "Connection", "RemoteNamespace", "RemoteObject", "SandboxCrashed", "SandboxTimeout",
    "SubmissionRaised", "Verdict", "grade_notebook",
]  # fmt: skip
