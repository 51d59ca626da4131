"""The course kit's engine: release labs, grade submissions in a sandbox, keep a gradebook,
write reports and exports. The sub-packages group the steps by side (see README, Layout)."""

import sys

# nbformat imports jsonschema, which builds a grammar for IRI checks at import time when the
# optional rfc3987_syntax is installed (JupyterLab brings it): about a second in every process
# (CLI, grading workers, sandbox servers) for a format the notebook schema never uses. Kept out
# here, before any step can import nbformat.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
