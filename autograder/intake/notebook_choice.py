"""Which notebook is the submission: the one rule Gradescope's `run_autograder`, `grade`'s intake
and Canvas and Moodle downloads share.

Never a submission: macOS's AppleDouble files (`._name`, which its zip tool writes beside every
file) and its `__MACOSX/` folder, Jupyter's `.ipynb_checkpoints/`, and every other hidden file or
folder (a name starting with `.`). Among one student's other notebooks:

1. the notebook named after the lab (`<lab>.ipynb`, or a notebook in a folder named after the
   lab); of several uploads of it (`<lab>.ipynb`, `<lab>-1.ipynb`, `<lab>-2.ipynb`: the
   suffixes Canvas and Moodle add to a file uploaded again) the latest;
2. else the only notebook;
3. else the notebook whose graded names match the lab's: the one that defines the most of the
   functions and classes the lab's solution cells define (at least one, and more than any
   other); of several uploads of one name that tie, the latest;
4. else none: refused, naming the files.

A platform that prefixes the files it exports (Canvas's `<name>_<user id>_<attachment id>_`,
Moodle's `<Full Name>_<participant id>_assignsubmission_file_`) has the rule applied to the name
the student gave the file (its display name), never to the prefixed one. Whenever there was a
choice, the note says which notebook was graded and why.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.core.notebook import without_magics
from autograder.core.safe_text import one_line

MACOS_FOLDER = "__MACOSX"
UPLOAD_SUFFIX = re.compile(r"(?P<base>.*?)(?:-(?P<number>\d{1,3}))?")
MAX_READ_BYTES = 50 * 2**20  # a notebook bigger than this is not read for its names
NAMES_SHOWN = 80  # characters of each file name in a note


def is_ignored(name: str) -> bool:
    """True for a file or folder that is never (part of) a submission: hidden names (which take
    in `.ipynb_checkpoints` and macOS's `._name` AppleDouble files) and `__MACOSX`."""
    return name.startswith(".") or name == MACOS_FOLDER


def notebook_files(root: Path, refuse: Callable[[str], None]) -> list[Path]:
    """Every notebook file under `root` that can be a submission, in a stable order, without
    following links: a link is passed to `refuse` as one line and left out."""
    found = []
    for folder, folders, files in os.walk(root):
        here = Path(folder)
        for name in list(folders):
            if (here / name).is_symlink():
                refuse(f"{_relative(here / name, root)!r}: a link to a folder, not a folder")
        folders[:] = sorted(name for name in folders
                            if not is_ignored(name) and not (here / name).is_symlink())  # fmt: skip
        for name in sorted(files):
            path = here / name
            if is_ignored(name) or not name.lower().endswith(".ipynb"):
                continue
            if path.is_symlink():
                refuse(f"{_relative(path, root)!r}: a link, not a notebook file")
            elif path.is_file():
                found.append(path)
    return found


def _relative(path: Path, root: Path) -> str:
    return one_line(path.relative_to(root).as_posix(), 200)


@dataclass(frozen=True)
class Candidate:
    """A notebook one student submitted, and the name the student gave it."""

    path: Path
    name: str  # without a platform's prefix (Canvas's, Moodle's); the file's name otherwise

    @property
    def upload(self) -> tuple[str, int]:
        """(name, upload number): `lab-2.ipynb` is ("lab", 2), `lab.ipynb` ("lab", 0)."""
        stem = self.name[:-len(".ipynb")] if self.name.lower().endswith(".ipynb") else self.name
        match = UPLOAD_SUFFIX.fullmatch(stem)
        assert match is not None  # the pattern matches every name
        return match["base"], int(match["number"] or 0)


def candidates(paths: list[Path]) -> list[Candidate]:
    """Notebooks whose file names are the students' own."""
    return [Candidate(path, path.name) for path in paths]


def _cells(path: Path) -> list:
    """The cells of a notebook file, or none when it is not a readable notebook."""
    try:
        if path.stat().st_size > MAX_READ_BYTES:
            return []
        cells = json.loads(path.read_bytes().decode("utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [cell for cell in cells if isinstance(cell, dict)] if isinstance(cells, list) else []


def _is_solution(cell: dict) -> bool:
    nbgrader = cell.get("metadata", {}).get("nbgrader", {}) \
        if isinstance(cell.get("metadata"), dict) else {}  # fmt: skip
    return isinstance(nbgrader, dict) and bool(nbgrader.get("solution"))


def _definitions(cells: list) -> set[str]:
    """The functions and classes these code cells define at their top level."""
    names: set[str] = set()
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(map(str, source)) if isinstance(source, list) else str(source)
        try:
            tree = ast.parse(without_magics(source))
        except (SyntaxError, ValueError):
            continue
        names |= {node.name for node in tree.body
                  if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    return names


def defined_names(path: Path) -> set[str]:
    """What a submitted notebook defines (nothing, for a file that is not a notebook)."""
    return _definitions(_cells(path))


def lab_graded_names(source_notebook: Path) -> frozenset[str]:
    """The graded names of a lab: what its source notebook's solution cells define."""
    return frozenset(_definitions([cell for cell in _cells(source_notebook)
                                   if _is_solution(cell)]))  # fmt: skip


def _shown(found: list[Candidate]) -> str:
    return ", ".join(one_line(candidate.path.name, NAMES_SHOWN) for candidate in found)


def _latest_upload(found: list[Candidate]) -> Candidate | None:
    """The latest upload when every candidate is an upload of one name, else None."""
    uploads = [candidate.upload for candidate in found]
    if len({name.casefold() for name, _ in uploads}) != 1:
        return None
    numbers = [number for _, number in uploads]
    if len(set(numbers)) != len(numbers):
        return None
    return max(found, key=lambda candidate: candidate.upload[1])


def choose_notebook(
    found: list[Candidate], lab_id: str, graded_names: frozenset[str] = frozenset()
) -> tuple[Candidate | None, str]:
    """The notebook to grade among one student's, with a note saying which and why when there
    was a choice; (None, why) when none can be chosen."""
    if not found:
        return None, "no .ipynb notebook in it"
    lab = lab_id.casefold()
    # named after the lab itself, else in a folder named after it
    named = [candidate for candidate in found if candidate.upload[0].casefold() == lab] or \
        [candidate for candidate in found if candidate.path.parent.name.casefold() == lab]
    if len(named) == 1:
        chosen = named[0]
        why = "the notebook named after the lab"
    elif named:
        chosen = _latest_upload(named)
        why = "the latest upload of the notebook named after the lab"
        if chosen is None:
            chosen, why = _by_graded_names(named, graded_names)
    elif len(found) == 1:
        return found[0], ""
    else:
        chosen, why = _by_graded_names(found, graded_names)
    if chosen is None:
        return None, f"{len(found)} notebooks and none of them is the one to grade " \
                     f"({_shown(found)}): name it {lab_id}.ipynb"  # fmt: skip
    if len(found) == 1:
        return chosen, ""
    return chosen, f"graded {one_line(chosen.path.name, NAMES_SHOWN)}, {why}, of " \
                   f"{_shown(found)}"  # fmt: skip


def _by_graded_names(found: list[Candidate],
                     graded_names: frozenset[str]) -> tuple[Candidate | None, str]:  # fmt: skip
    if not graded_names:
        latest = _latest_upload(found)
        return latest, "the latest upload"
    counts = {candidate: len(defined_names(candidate.path) & graded_names)
              for candidate in found}  # fmt: skip
    best = max(counts.values())
    leaders = [candidate for candidate in found if counts[candidate] == best]
    if best == 0:
        return None, ""
    chosen = leaders[0] if len(leaders) == 1 else _latest_upload(leaders)
    return chosen, (f"the notebook that defines the lab's graded names ({best} of "
                    f"{len(graded_names)})") + (", latest upload" if len(leaders) > 1 else "")
