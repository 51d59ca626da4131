"""Keep PyTorch's compiler (torch._dynamo) unimported in processes that never compile.

PyTorch's optimizers import torch._dynamo at their first use, only to mark where `torch.compile`
must not trace: `add_param_group`, `zero_grad` and `state_dict` are wrapped in
`torch._disable_dynamo`, and every `step` in `_use_grad_for_differentiable`, which calls
`torch._dynamo.graph_break()` around the update. Outside a compiled region both are no-ops, yet
the import costs about 2 s here, more than `import torch` itself, in the sandbox's server, in the
grader's reference run and in every fresh process that grades one notebook.

`defer_dynamo_import()` wraps those methods again so that, while torch._dynamo is not imported
(so nothing can be compiling), they do exactly their eager work; once a notebook imports it (to
compile something), each call goes through PyTorch's own wrapper as before. Where PyTorch's
wrappers are not built as this expects (another version), nothing is changed.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable
from typing import Any

DYNAMO = "torch._dynamo"


def defer_dynamo_import() -> None:
    """Defer torch._dynamo's import in this process (call it before the first optimizer)."""
    import torch
    import torch._compile
    import torch.optim.optimizer as optimizer_module

    disable_inner = _inner_code(torch._compile._disable_dynamo, ("fn", "recursive"))
    use_grad_inner = _inner_code(optimizer_module._use_grad_for_differentiable, ("func",))
    if disable_inner is None or use_grad_inner is None:
        return
    for owner in _optimizer_namespaces():
        for name, value in list(vars(owner).items()):
            if not isinstance(value, types.FunctionType):
                continue
            if value.__code__ is disable_inner:
                fn, recursive = (cell.cell_contents for cell in value.__closure__)
                if getattr(fn, "__dynamo_disable", None) is None:
                    setattr(fn, "__dynamo_disable", _disabled_once_dynamo_is_in(fn, recursive))
            elif value.__code__ is use_grad_inner and isinstance(owner, type):
                setattr(owner, name, _grad_mode_step(value))


def _inner_code(factory: Callable, free_names: tuple[str, ...]) -> types.CodeType | None:
    """The code of the one function `factory` builds, when it closes over `free_names`."""
    inner = [const for const in factory.__code__.co_consts
             if isinstance(const, types.CodeType) and const.co_freevars == free_names]  # fmt: skip
    return inner[0] if len(inner) == 1 else None


def _optimizer_namespaces() -> list[Any]:
    """torch.optim's modules and the classes they define (Optimizer and each optimizer)."""
    owners: list[Any] = []
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "torch.optim" or name.startswith("torch.optim.")):
            owners.append(module)
            owners.extend(value for value in vars(module).values()
                          if isinstance(value, type) and value.__module__ == name)  # fmt: skip
    return owners


def _disabled_once_dynamo_is_in(fn: Callable, recursive: bool) -> Callable:
    """What `torch._disable_dynamo`'s wrapper calls: `fn` itself until torch._dynamo is imported,
    then (for good) `torch._dynamo.disable(fn)`, as PyTorch would have from the start."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if DYNAMO not in sys.modules:
            return fn(*args, **kwargs)
        import torch._dynamo

        disabled = torch._dynamo.disable(fn, recursive, wrapping=False)
        setattr(fn, "__dynamo_disable", disabled)
        return disabled(*args, **kwargs)

    return call


def _grad_mode_step(use_grad: Callable) -> Callable:
    """An optimizer's `step` as `_use_grad_for_differentiable` runs it in eager mode (grad mode
    set from the optimizer's `differentiable` default, restored after), and PyTorch's own wrapper,
    graph breaks included, once torch._dynamo is imported."""
    import torch

    step = use_grad.__wrapped__

    def _use_grad(*args: Any, **kwargs: Any) -> Any:
        if DYNAMO in sys.modules:
            return use_grad(*args, **kwargs)
        previous = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(args[0].defaults["differentiable"])
            return step(*args, **kwargs)
        finally:
            torch.set_grad_enabled(previous)

    return functools.update_wrapper(_use_grad, step)
