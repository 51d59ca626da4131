"""The data-only codec of the trust boundary: plain values in, plain values out, bounds enforced."""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
import torch

from autograder.sandbox import boundary
from autograder.sandbox.boundary import BoundaryError, HandleTable, decode, encode


def roundtrip(value, handles=None):
    return decode(json.loads(json.dumps(encode(value, handles))), resolve_handle=lambda d: d)


def test_plain_values_round_trip_as_base_types():
    value = {"a": [1, 2.5, None, True, "x"], "b": (1, (2, 3)), 4: {"nested": [float("nan")]}}
    back = roundtrip(value)
    assert back["a"] == [1, 2.5, None, True, "x"]
    assert back["b"] == (1, (2, 3)) and type(back["b"]) is tuple
    assert np.isnan(back[4]["nested"][0])


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "uint8", "bool"])
def test_arrays_keep_dtype_shape_and_values(dtype):
    array = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    back = roundtrip(array)
    assert type(back) is np.ndarray and back.dtype == array.dtype and back.shape == (3, 4)
    assert np.array_equal(back, array)
    scalar = roundtrip(np.array(1.5))
    assert scalar.shape == () and scalar == 1.5


def test_numpy_scalars_and_non_contiguous_arrays():
    assert roundtrip(np.float32(2.5)) == np.float32(2.5)
    assert type(roundtrip(np.float32(2.5))) is np.float32
    view = np.arange(10.0)[::2]
    assert np.array_equal(roundtrip(view), view)


def test_tensors_and_parameters_come_back_plain_with_their_gradient():
    layer = torch.nn.Linear(3, 2)
    layer(torch.ones(1, 3)).sum().backward()
    back = roundtrip(layer.weight)
    assert type(back) is torch.Tensor and back.dtype == torch.float32
    assert torch.equal(back, layer.weight.detach())
    assert torch.equal(back.grad, layer.weight.grad)
    state = roundtrip(layer.state_dict())
    assert set(state) == {"weight", "bias"} and type(state["bias"]) is torch.Tensor


def test_objects_become_handles_inside_and_errors_outside():
    class Model:
        pass

    class Sneaky(np.ndarray):
        def __eq__(self, other):
            return True

    handles = HandleTable()
    encoded = encode([Model(), np.zeros(3).view(Sneaky), np.array(["1"])], handles)
    assert [item["t"] for item in encoded] == ["handle", "handle", "handle"]
    assert encoded[0]["type"] == "Model"
    with pytest.raises(BoundaryError):
        encode(Model())  # the trusted side never sends objects


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"t": "nd", "dtype": "object", "shape": [1], "b64": ""}, "not allowed"),
        ({"t": "nd", "dtype": "float64", "shape": [2], "b64": base64.b64encode(b"x").decode()},
         "does not match"),
        ({"t": "nd", "dtype": "float64", "shape": [-1], "b64": ""}, "malformed shape"),
        ({"t": "nd", "dtype": "float64", "shape": [1], "b64": "!!"}, "base64"),
        ({"t": "pickle", "v": "gASVAAAA"}, "unknown value tag"),
        ({"t": "handle", "id": 3}, "handle where plain data"),
        ({"t": "dict", "v": [[{"t": "tuple", "v": [[1]]}, 1]]}, "dict key"),
    ],
)
def test_decode_rejects_malformed_values(data, problem):
    with pytest.raises(BoundaryError, match=problem):
        decode(data)


def test_decode_bounds_depth_and_size():
    deep = 1
    for _ in range(boundary.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(BoundaryError, match="nested"):
        decode(deep)
    with pytest.raises(BoundaryError, match="items"):
        decode([0] * (boundary.MAX_ITEMS + 1))


def test_framing_rejects_oversized_and_garbled_messages():
    read, write = os.pipe()
    boundary.write_message(write, {"op": "reply", "value": [1, 2]})
    assert boundary.read_message(read) == {"op": "reply", "value": [1, 2]}
    os.write(write, boundary.HEADER.pack(10) + b"not json!!")
    with pytest.raises(BoundaryError, match="not valid JSON"):
        boundary.read_message(read)
    os.write(write, boundary.HEADER.pack(2**40))
    with pytest.raises(BoundaryError, match="over the limit"):
        boundary.read_message(read)
    os.close(write)
    with pytest.raises(EOFError):
        boundary.read_message(read)
    os.close(read)


def test_the_trusted_side_never_unpickles():
    source = open(boundary.__file__).read()
    assert "pickle" not in source.replace("never unpickles", "").replace('"pickle"', "")


def _hostile_frames(cap: int):
    """Frames of about `cap` bytes shaped to cost the most memory when parsed."""
    n = cap - 64
    yield "empty lists", b"[" + b",".join([b"[]"] * (n // 3)) + b"]"
    yield "empty dicts", b"[" + b",".join([b"{}"] * (n // 3)) + b"]"
    yield "zeros", b"[" + b",".join([b"0"] * (n // 2)) + b"]"
    yield "short strings at the item limit", b"[" + b",".join([b'"xxxxxxxxxx"'] * (cap // 16 - 9)) + b"]"
    yield "floats at the item limit", b"[" + b",".join([b"1.2345678901234567"] * (cap // 20)) + b"]"
    yield "nested", b"[" * (n // 2) + b"]" * (n // 2)
    yield "one string", json.dumps({"op": "reply", "value": "x" * (n - 40)}).encode()
    array = np.zeros((n // 4 * 3) // 8 - 100)
    yield "one array", json.dumps({"op": "reply", "value": encode(array)}).encode()


@pytest.mark.parametrize("name, data", list(_hostile_frames(4 * 2**20)), ids=lambda v: v if isinstance(v, str) else "")
def test_one_reply_costs_the_grader_a_small_multiple_of_the_cap(name, data):
    """Memory spent reading and decoding one reply stays within 8x the cap (the README says so),
    whatever its shape: item counts are checked before parsing, sizes before reading."""
    import threading
    import tracemalloc

    cap = 4 * 2**20
    read, write = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write, boundary.HEADER.pack(len(data)) + data),
                                              os.close(write)))
    writer.start()
    tracemalloc.start()
    try:
        message = boundary.read_message(read, None, cap)
        decode(message.get("value") if isinstance(message, dict) else message, None)
    except BoundaryError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        writer.join()
        os.close(read)
    assert peak <= 8 * cap, f"{name}: {peak / cap:.1f} x the cap"


def test_a_frame_over_the_cap_is_refused_from_its_header_alone():
    read, write = os.pipe()
    os.write(write, boundary.HEADER.pack(60 * 2**20))  # and nothing more: reading on would block
    with pytest.raises(BoundaryError, match="over the limit of 16777216"):
        boundary.read_message(read, None, boundary.DEFAULT_MAX_REPLY_BYTES)
    os.close(read)
    os.close(write)
