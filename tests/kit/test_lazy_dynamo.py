"""PyTorch's optimizers run without importing torch._dynamo (2 s) in the grader and the sandbox,
with exactly PyTorch's results, and `torch.compile` still works once a notebook imports it.

Each check runs in a fresh Python process: this test process may have imported torch._dynamo
already, and the deferral is per process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.judging import judge
from autograder.sandbox import Limits, Sandbox

TRAINING = '''
import sys, torch
def train(name, **options):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    optimizer = getattr(torch.optim, name)(model.parameters(), **options)
    try:
        for _ in range(5):
            optimizer.zero_grad()
            model(torch.randn(4, 3)).pow(2).sum().backward()
            optimizer.step()
    except RuntimeError as error:  # the step's grad mode decides whether an update may raise
        return f"{type(error).__name__}: {error}"
    optimizer.load_state_dict(optimizer.state_dict())
    return [p.detach().flatten().tolist() for p in model.parameters()], torch.is_grad_enabled()
OPTIMIZERS = {"SGD": {"lr": 0.1, "momentum": 0.9}, "Adam": {"lr": 0.01},
              "AdamW": {"lr": 0.01}, "RMSprop": {"lr": 0.01}, "Adagrad": {"lr": 0.1}}
'''

IN_A_FRESH_PROCESS = TRAINING + '''
import json
if sys.argv[1] == "deferred":
    from autograder.sandbox.execute import warm_up
    warm_up(["torch.optim"])
else:
    import torch._dynamo  # PyTorch as it comes
results = {name: train(name, **options) for name, options in OPTIMIZERS.items()}
results["SGD, differentiable"] = train("SGD", lr=0.1, differentiable=True)
dynamo_imported = "torch._dynamo" in sys.modules
import torch._dynamo
after_import = train("Adam", lr=0.01)  # PyTorch's own wrappers from here on
compiled = torch.compile(lambda x: x.sin() + 1, backend="eager")(torch.zeros(2)).tolist()
print(json.dumps({"results": results, "dynamo_imported": dynamo_imported,
                  "after_import": after_import, "compiled": compiled}))
'''


def _train_in_a_fresh_process(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", IN_A_FRESH_PROCESS, mode], capture_output=True,
                          text=True, timeout=300, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_optimizers_train_without_the_compiler_and_give_pytorchs_results_bit_for_bit():
    deferred = _train_in_a_fresh_process("deferred")
    plain = _train_in_a_fresh_process("plain")
    assert deferred["dynamo_imported"] is False
    assert plain["dynamo_imported"] is True
    assert deferred["results"] == plain["results"]  # parameters and grad modes, exactly
    assert deferred["after_import"] == plain["after_import"] == plain["results"]["Adam"]
    assert deferred["compiled"] == [1.0, 1.0]


@pytest.mark.slow
def test_a_sandboxed_notebook_trains_without_importing_the_compiler():
    sandbox = Sandbox(slot=13, preload=("torch", "torch.optim"))
    limits = Limits(memory_mb=2048, cpu_s=60, cell_timeout_s=30, notebook_timeout_s=60,
                    test_timeout_s=30, max_processes=32)  # fmt: skip
    payload = judge.notebook_payload(new_notebook(cells=[new_code_cell(
        TRAINING + "WEIGHTS = train('Adam', lr=0.01)\n"
        "COMPILER_IMPORTED = 'torch._dynamo' in sys.modules")]))  # fmt: skip
    connection = judge.Connection(sandbox=sandbox, payload=payload, skip_tags=(), seed=1,
                                  limits=limits)  # fmt: skip
    try:
        student = judge.RemoteNamespace(connection)
        assert student.COMPILER_IMPORTED is False
        assert len(student.WEIGHTS[0]) == 4
    finally:
        connection.close()
        sandbox.close()
