"""Run student code in a separate, confined process, and talk to it as data only.

The trusted side: `sandbox` (the `Sandbox` and a submission's `Session`; what each mode isolates,
time limits, faults and the crash policy are in its docstring), `bubblewrap` (the server's
command line), `uids` (the uid a root grader leases), `replies` (what comes back, validated),
`errors`. Inside the sandbox: `worker` (the fork server), `confine`, `execute`, `test_cells`,
`lazy_dynamo`. Between them: `boundary` (the protocol). For both: `cleanup`, `monitor`,
`readable_python`.
"""

from autograder.sandbox.bubblewrap import bwrap_works, isolation
from autograder.sandbox.errors import (
    SandboxCrashed,
    SandboxError,
    SandboxLimit,
    SandboxTimeout,
    SandboxUnavailable,
)
from autograder.sandbox.sandbox import MAX_RESTARTS, Limits, Sandbox, Session
from autograder.sandbox.uids import UID_RANGE_ENV, lease_sandbox_uid

__all__ = [
    "MAX_RESTARTS", "UID_RANGE_ENV", "Limits", "Sandbox", "SandboxCrashed", "SandboxError",
    "SandboxLimit", "SandboxTimeout", "SandboxUnavailable", "Session", "bwrap_works", "isolation",
    "lease_sandbox_uid",
]  # fmt: skip
