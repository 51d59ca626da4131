"""The data-only boundary between the trusted grader and the sandbox.

Messages travel over pipes as an 8-byte big-endian length followed by UTF-8 JSON. Values are
encoded as JSON with tagged objects for everything JSON cannot say on its own:

    {"t": "tuple", "v": [...]}                 {"t": "dict", "v": [[key, value], ...]}
    {"t": "nd", "dtype": "float64", "shape": [2, 3], "b64": "..."}        a NumPy array
    {"t": "np", "dtype": "float64", "b64": "..."}                         a NumPy scalar
    {"t": "torch", "dtype": ..., "shape": ..., "device": "cpu", "b64": ..., "grad": value|null}
    {"t": "handle", "id": 7, "type": "SimpleRNN", "callable": true}       an object left inside

`decode` (the trusted side) never unpickles and never calls code of the sandbox: it builds
base-class `list`/`tuple`/`dict`/`np.ndarray`/`torch.Tensor` values only, accepts only the
dtypes of `DTYPES`, checks that the bytes match dtype and shape, and bounds nesting depth,
element counts and message size. A value that breaks any rule is a `BoundaryError`, which the
judge turns into a failed test ("fail closed"). `encode` runs on both sides: inside the sandbox
it turns whatever a student function returned into plain data, leaving anything else behind as a
handle (see `HandleTable`).
"""

from __future__ import annotations

import base64
import json
import math
import os
import select
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# What the trusted side reads from the sandbox: a frame's size is checked from its 8-byte header
# before any of it is read, and its item count before it is parsed (see `read_message`), so one
# reply costs the grader at most a small multiple of `max_bytes` (measured in the kit tests).
DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024  # per lab: `max_reply_mb` in course_config.py
MAX_REQUEST_BYTES = 1024 * 1024 * 1024  # what the sandbox accepts from the (trusted) grader
BYTES_PER_ITEM = 16  # a frame of n bytes may hold at most n / 16 JSON items
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000  # elements of lists, tuples and dicts in one decoded value
MAX_STRING = 16 * 1024 * 1024
DTYPES = frozenset(
    ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float16", "float32", "float64"]
)  # fmt: skip
HEADER = struct.Struct(">Q")


class BoundaryError(Exception):
    """A message or value that does not follow the protocol (garbled, too big, too deep)."""


# ---------------------------------------------------------------------------------- framing


def frame(message: Any) -> bytes:
    """`message` as one frame: its length (8 bytes, big-endian), then compact UTF-8 JSON."""
    data = json.dumps(message, allow_nan=True, separators=(",", ":")).encode()
    return HEADER.pack(len(data)) + data


def _wait(fd: int, deadline: float | None, writing: bool = False,
          watch: Callable[[], None] | None = None, poll_s: float = 0.5) -> None:  # fmt: skip
    """Wait until `fd` can be read (or written); past `deadline` a TimeoutError. `watch` is
    called every `poll_s` while waiting (the grader's limits: it raises to stop waiting)."""
    while True:
        if deadline is None and watch is None:
            return  # a blocking descriptor: the read itself waits
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            raise TimeoutError
        timeout = poll_s if watch is not None else wait
        if wait is not None:
            timeout = min(timeout, wait)
        watched = [fd]
        readable, writable, _ = select.select([] if writing else watched,
                                              watched if writing else [], [], timeout)  # fmt: skip
        if writable if writing else readable:
            return
        if watch is not None:
            watch()


def write_message(fd: int, message: Any, deadline: float | None = None) -> None:
    """Send one frame; with a `deadline`, a peer that stops reading is a TimeoutError, not a hang
    (the descriptor should then be non-blocking, as the grader's ends are)."""
    view = memoryview(frame(message))
    while view:  # write first, wait only when the peer's buffer is full (one syscall, not two)
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            _wait(fd, deadline, writing=True)
            continue
        view = view[written:]


def _read_exactly(fd: int, size: int, deadline: float | None,
                  watch: Callable[[], None] | None = None) -> bytearray:  # fmt: skip
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:  # read first, wait only when nothing has come yet
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError
        try:
            count = os.readv(fd, [view[got:got + (1 << 20)]])
        except BlockingIOError:
            _wait(fd, deadline, watch=watch)
            continue
        if not count:
            raise EOFError
        got += count
    return buffer


def pending(fd: int) -> bool:
    """True when something is waiting to be read on `fd` (an unasked-for message, or its end)."""
    return bool(select.select([fd], [], [], 0)[0])


def check_frame(data: bytes | bytearray, max_bytes: int) -> None:
    """Refuse a frame whose parsing would cost more than a small multiple of `max_bytes`.

    JSON parsing costs memory per item (an empty list is 56 bytes of Python objects for 3 bytes of
    text), so items are counted first, in C speed, by the characters that open or separate them.
    Strings holding such characters only make the count larger: the check errs on refusing.
    """
    items = data.count(b"[") + data.count(b"{") + data.count(b",")
    limit = max(1024, max_bytes // BYTES_PER_ITEM)
    if items > limit:
        raise BoundaryError(f"a message of {items} items is over the limit of {limit}")


def read_message(fd: int, deadline: float | None = None,
                 max_bytes: int = DEFAULT_MAX_REPLY_BYTES,
                 watch: Callable[[], None] | None = None) -> Any:  # fmt: skip
    """The next message; TimeoutError past `deadline`, EOFError when the peer closed its end
    (also in the middle of a frame), BoundaryError for a frame over `max_bytes` (known from its
    header, before reading it), with too many items, or that is not JSON. `watch` is called
    every half second while waiting (see `_wait`)."""
    (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size, deadline, watch))
    if size > max_bytes:
        raise BoundaryError(f"a message of {size} bytes is over the limit of {max_bytes}")
    data = _read_exactly(fd, size, deadline, watch)
    check_frame(data, max_bytes)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise BoundaryError("a message is not valid JSON") from None
    except RecursionError:
        raise BoundaryError("a message is nested too deep") from None


# ---------------------------------------------------------------------------------- encode


class HandleTable:
    """Objects that stay inside the sandbox, by id (the sandbox side of handles)."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}
        self.next_id = 1

    def add(self, value: Any) -> dict:
        handle_id = self.next_id
        self.next_id += 1
        self.objects[handle_id] = value
        return {"t": "handle", "id": handle_id, "type": type(value).__name__[:100],
                "callable": callable(value)}  # fmt: skip

    def get(self, handle_id: Any) -> Any:
        if type(handle_id) is not int or handle_id not in self.objects:
            raise BoundaryError(f"unknown handle {handle_id!r}")
        return self.objects[handle_id]


def _array_payload(array: np.ndarray) -> dict:
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    return {"dtype": array.dtype.name, "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode("ascii")}  # fmt: skip


def _torch_module():
    import sys

    return sys.modules.get("torch")


def encode(value: Any, handles: HandleTable | None = None, depth: int = 0) -> Any:
    """`value` as JSON-ready data; objects that are not plain data become handles (or an error)."""
    if depth > MAX_DEPTH:
        raise BoundaryError(f"the value is nested more than {MAX_DEPTH} levels deep")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value
    if isinstance(value, dict) and type(value).__module__ in ("builtins", "collections"):
        return {"t": "dict", "v": [[encode(k, handles, depth + 1), encode(v, handles, depth + 1)]
                                   for k, v in value.items()]}  # fmt: skip
    if type(value) is list:
        return [encode(item, handles, depth + 1) for item in value]
    if isinstance(value, tuple) and (type(value) is tuple or hasattr(value, "_fields")):
        return {"t": "tuple", "v": [encode(item, handles, depth + 1) for item in value]}
    if type(value) is np.ndarray and value.dtype.name in DTYPES:
        return {"t": "nd", **_array_payload(value)}
    if isinstance(value, np.generic) and type(value) is np.dtype(type(value)).type:
        if value.dtype.name in DTYPES:
            return {"t": "np", "dtype": value.dtype.name,
                    "b64": base64.b64encode(value.tobytes()).decode("ascii")}  # fmt: skip
    torch = _torch_module()
    if (
        torch is not None
        and isinstance(value, torch.Tensor)
        and (type(value) in (torch.Tensor, torch.nn.Parameter))
    ):
        tensor = value.detach()
        device = str(tensor.device)
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        array = tensor.cpu().contiguous().numpy()
        if array.dtype.name in DTYPES:
            grad = value.grad if value.is_leaf and value.requires_grad else None
            encoded_grad = encode(grad, None, depth + 1) if grad is not None else None
            return {"t": "torch", "device": device, **_array_payload(array), "grad": encoded_grad}
    if handles is None:
        raise BoundaryError(f"a {type(value).__name__} cannot cross the boundary")
    return handles.add(value)


# ---------------------------------------------------------------------------------- decode


class Budget:
    def __init__(self) -> None:
        self.items = 0

    def spend(self, count: int) -> None:
        self.items += count
        if self.items > MAX_ITEMS:
            raise BoundaryError(f"the value holds more than {MAX_ITEMS} items")


def _decode_array(data: dict, scalar: bool = False) -> np.ndarray:
    dtype_name = data.get("dtype")
    if dtype_name not in DTYPES:
        raise BoundaryError(f"dtype {dtype_name!r} is not allowed across the boundary")
    dtype = np.dtype(dtype_name)
    shape = [] if scalar else data.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > 32
        or not all(type(n) is int and 0 <= n for n in shape)
    ):
        raise BoundaryError("an array with a malformed shape")
    raw_text = data.get("b64")
    if type(raw_text) is not str:
        raise BoundaryError("an array without data")
    try:
        raw = base64.b64decode(raw_text, validate=True)
    except ValueError:
        raise BoundaryError("an array whose data is not base64") from None
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise BoundaryError("an array whose data does not match its shape and dtype")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode(
    data: Any, resolve_handle: Any = None, depth: int = 0, budget: Budget | None = None
) -> Any:
    """Plain Python/NumPy/torch values from encoded data; `resolve_handle(dict)` makes handles."""
    budget = budget or Budget()
    if depth > MAX_DEPTH:
        raise BoundaryError(f"the value is nested more than {MAX_DEPTH} levels deep")
    budget.spend(1)
    if data is None or type(data) in (bool, int, float):
        return data
    if type(data) is str:
        if len(data) > MAX_STRING:
            raise BoundaryError("a string over the size limit")
        return data
    if type(data) is list:
        return [decode(item, resolve_handle, depth + 1, budget) for item in data]
    if type(data) is not dict:
        raise BoundaryError(f"unexpected {type(data).__name__} in a message")
    tag = data.get("t")
    if tag == "tuple" and type(data.get("v")) is list:
        return tuple(decode(item, resolve_handle, depth + 1, budget) for item in data["v"])
    if tag == "dict" and type(data.get("v")) is list:
        result = {}
        for pair in data["v"]:
            if type(pair) is not list or len(pair) != 2:
                raise BoundaryError("a malformed dict entry")
            key = decode(pair[0], None, depth + 1, budget)
            try:
                hash(key)
            except TypeError:
                raise BoundaryError("a dict key that is not plain data") from None
            result[key] = decode(pair[1], resolve_handle, depth + 1, budget)
        return result
    if tag == "nd":
        return _decode_array(data)
    if tag == "np":
        return _decode_array(data, scalar=True)[()]
    if tag == "torch":
        import torch

        array = _decode_array(data)
        tensor = torch.from_numpy(array) if array.dtype != np.uint16 else torch.tensor(array)
        device = data.get("device", "cpu")
        if type(device) is str and device.startswith("cuda") and torch.cuda.is_available():
            tensor = tensor.to(device)
        grad = data.get("grad")
        if grad is not None:
            grad_value = decode(grad, None, depth + 1, budget)
            if (
                isinstance(grad_value, torch.Tensor)
                and grad_value.shape == tensor.shape
                and (tensor.is_floating_point())
            ):
                tensor.grad = grad_value.to(tensor.dtype).to(tensor.device)
        return tensor
    if tag == "handle" and type(data.get("id")) is int:
        if resolve_handle is None:
            raise BoundaryError("a handle where plain data was expected")
        return resolve_handle(data)
    raise BoundaryError(f"unknown value tag {str(tag)[:40]!r}")
