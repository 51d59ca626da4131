"""nbgrader's `### AUTOTEST` and `### HASHED AUTOTEST` lines, expanded as `nbgrader
generate_assignment` expands them (nbgrader.preprocessors.InstantiateTests), at import.

The source notebook runs top to bottom in an IPython shell in the notebook's folder (as nbgrader
runs it in a kernel there); at each directive line, each `;`-separated snippet is evaluated for its
type, and the templates of that type in `autotests.yml` (the assignment's folder, else the course
folder) become `assert` lines comparing the submission's value with the solution's: written out,
or hashed with a salt (HASHED). The cell then ends with the file's `success` line. Values are
read as a kernel shows them (IPython's text/plain, quotes stripped), so the asserts are nbgrader's
own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from autograder.authoring.course_init import InitError

DIRECTIVE = "AUTOTEST"
HASHED = "HASHED"
TEMPLATE_FILE = "autotests.yml"


def has_autotests(source: str) -> bool:
    return any(DIRECTIVE in line and line.strip().startswith("#") for line in source.splitlines())


def find_template_file(folder: Path) -> Path:
    """autotests.yml in the assignment's folder, else in the course folder above `source/`."""
    for candidate in (folder, folder.parent, folder.parent.parent):
        if (candidate / TEMPLATE_FILE).is_file():
            return candidate / TEMPLATE_FILE
    raise InitError(f"{folder}: the notebook has AUTOTEST lines but there is no "
                    f"{TEMPLATE_FILE} in the assignment's folder or the course folder (nbgrader "
                    "needs one too)")


def _render(template: str, **values: Any) -> str:
    import jinja2

    return jinja2.Environment(loader=jinja2.BaseLoader()).from_string(template).render(**values)


class _Kernel:
    """Code run one piece at a time in one IPython shell; the text/plain of each value shown."""

    def __init__(self) -> None:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "nocolor"
        self.shell = InteractiveShell(config=config)

    def run(self, code: str, where: str) -> str | None:
        result = self.shell.run_cell(code, store_history=False, silent=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            raise InitError(f"{where}: running the solution to expand its AUTOTEST lines: "
                            f"{type(error).__name__}: {error}")  # fmt: skip
        if result.result is None:
            return None
        text = self.shell.display_formatter.format(result.result)[0].get("text/plain")
        # nbgrader's sanitizer for Python kernels: the quotes around a string's repr go
        return None if text is None else text.strip('"').strip("'")

    def close(self) -> None:
        self.shell.cleanup()


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def expand(cells: list[Any], kernel_name: str, folder: Path, where: str) -> dict[int, str]:
    """{cell index: the expanded source} for the code cells of `cells` with AUTOTEST lines;
    every code cell runs, in order, as nbgrader runs them."""
    path = find_template_file(folder)
    try:
        settings = (yaml.safe_load(path.read_text()) or {})[kernel_name]
        templates, check = settings["templates"], settings["check"]
        dispatch, normalize = settings["dispatch"], settings["normalize"]
    except (yaml.YAMLError, KeyError, TypeError) as error:
        raise InitError(f"{path}: no usable settings for the {kernel_name!r} kernel ({error})") \
            from None  # fmt: skip
    setup, success, hash_template = (settings.get(key) for key in ("setup", "success", "hash"))
    expanded: dict[int, str] = {}
    kernel = _Kernel()
    try:
        with _inside(folder):
            for index, cell in enumerate(cells):
                if cell.cell_type != "code" or not cell.source:
                    continue
                label = f"{where}, cell {index}"
                lines, pending, setup_done = [], [], False
                # one salt sequence per cell, as nbgrader seeds it (stable across releases)
                salt_seed = int(hashlib.sha256((cell.source + str(index)).encode()).hexdigest(),
                                16) % 10**6  # fmt: skip
                for line in cell.source.split("\n"):
                    if DIRECTIVE not in line or not line.strip().startswith("#"):
                        lines.append(line)
                        pending.append(line)
                        continue
                    kernel.run("\n".join(pending), label)
                    pending = []
                    if setup and not setup_done:
                        lines.append(setup)
                        kernel.run(setup, label)
                        setup_done = True
                    hashed = HASHED in line[: line.find(DIRECTIVE)]
                    if hashed and hash_template is None:
                        raise InitError(f"{path}: HASHED AUTOTEST needs a `hash` template")
                    after = line[line.find(DIRECTIVE) + len(DIRECTIVE):]
                    snippets = [snippet.strip() for snippet in after.strip(";").split(";")]
                    for snippet in (snippet for snippet in snippets if snippet):
                        salt = None
                        if hashed:
                            salt_seed += 1
                            salt = hex(salt_seed)[2:]
                        kind = kernel.run(_render(dispatch, snippet=snippet), label)
                        tests = templates.get(kind, templates.get("default"))
                        if tests is None:
                            raise InitError(f"{path}: no template for {kind!r} and no `default`")
                        for test in tests:
                            code = _render(normalize, snippet=test["test"])
                            if salt is not None:
                                code = _render(hash_template, snippet=code, salt=salt)
                            code = _render(code, snippet=snippet)
                            value = kernel.run(code, label)
                            message = _render(test["fail"], snippet=snippet).replace('"', '\\"')
                            lines.append(_render(check, snippet=code, value=value,
                                                 message=message))  # fmt: skip
                        lines.append("")
                if has_autotests(cell.source):
                    if success is not None:  # nbgrader's last line of an expanded cell
                        lines.append(success)
                        pending.append(success)
                    expanded[index] = "\n".join(lines)
                if pending:
                    kernel.run("\n".join(pending), label)
    finally:
        kernel.close()
    return expanded
