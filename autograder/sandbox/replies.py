"""Validating what comes back from the sandbox: every frame is hostile until it matches a schema.

A reply that does not match (a wrong key, type, size or request id) kills the whole sandbox (see
`autograder.sandbox.sandbox.Session`); these only say whether it matches.
"""

from __future__ import annotations

import math
from typing import Any

from autograder.sandbox import test_cells


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def is_text(value: Any, limit: int, optional: bool = False) -> bool:
    return (optional and value is None) or (type(value) is str and len(value) <= limit)


def _valid_cell(cell: Any) -> bool:
    return (
        type(cell) is dict and set(cell) == {"index", "grade_id", "error", "notes"}
        and type(cell["index"]) is int and 0 <= cell["index"] < 1_000_000
        and is_text(cell["grade_id"], 200, optional=True)
        and is_text(cell["error"], 1000, optional=True)
        and type(cell["notes"]) is list and len(cell["notes"]) <= 100
        and all(is_text(note, 500) for note in cell["notes"])
    )  # fmt: skip


def valid_ready(message: Any) -> bool:
    """The report of a notebook run: {"op": "ready", "seconds", "cpu", "output", "cells"}."""
    return (
        type(message) is dict and set(message) == {"op", "seconds", "cpu", "output", "cells"}
        and message["op"] == "ready" and _is_number(message["seconds"])
        and _is_number(message["cpu"]) and is_text(message["output"], 8000)
        and type(message["cells"]) is list and len(message["cells"]) <= 10_000
        and all(_valid_cell(cell) for cell in message["cells"])
    )  # fmt: skip


def _valid_warnings(caught: Any) -> bool:
    """Warnings a call emitted (see `autograder.testing.applied_context`)."""
    return (
        type(caught) is list and 0 < len(caught) <= 20
        and all(type(item) is dict and set(item) == {"category", "message", "lineno"}
                and is_text(item["category"], 200) and is_text(item["message"], 500)
                and type(item["lineno"]) is int for item in caught)
    )  # fmt: skip


def valid_reply(message: Any, request_id: int) -> bool:
    """The answer to request `request_id`: a value (or "missing"), a test cell's result (see
    `autograder.sandbox.test_cells`), or the error it raised."""
    if type(message) is not dict or type(message.get("id")) is not int:
        return False
    if message["id"] != request_id:
        return False
    if not (_is_number(message.get("seconds")) and _is_number(message.get("cpu"))):
        return False
    if message.get("op") == "reply":
        if "warnings" in message and not _valid_warnings(message["warnings"]):
            return False
        keys = set(message) - {"op", "id", "seconds", "cpu", "warnings"}
        return (keys == {"value"} or (keys == {"missing"} and message["missing"] is True)
                or (keys == {"cell"} and test_cells.valid_result(message["cell"])))
    if message.get("op") == "error":
        keys = {"op", "id", "seconds", "cpu", "type", "message"}
        return (set(message) == keys and is_text(message["type"], 200)
                and is_text(message["message"], 2000))  # fmt: skip
    return False


def valid_exit(message: Any) -> bool:
    """How a child ended, and whether it left the sandbox clean:
    {"op": "exited", "signal": int | None, "code": int | None, "clean": bool}."""
    return (
        type(message) is dict and set(message) == {"op", "signal", "code", "clean"}
        and message["op"] == "exited" and type(message["clean"]) is bool
        and all(message[key] is None or type(message[key]) is int for key in ("signal", "code"))
    )  # fmt: skip
