"""The course roster: maps what an input calls a student to the course's student id.

`--roster roster.csv` is a CSV file with a header row. Its columns (any order, others ignored):

- `student` (required): the id the gradebook, the reports and the feedback files use; it must
  already be a student id (see `autograder.intake.student_id`), and unique;
- `login`, `sis_id`, `email`, `name`, `lms_id`, `participant_id` (optional): what inputs may
  call the student. `lms_id` is the Canvas user id; `participant_id` the number Moodle gives the
  student in the assignment (its grading worksheet's "Identifier", `Participant 12345`: either
  form is read).

An input names a student in several ways, each of a kind, tried in order:

| input | kinds |
|---|---|
| Gradescope | `sis_id` (the submitter's SID), `email`, `name` |
| Canvas | `lms_id` (the Canvas user id in the file name), `name` (`lastfirst` in the file name) |
| Canvas, anonymous grading | `anon_id` (matches no column: graded under `anon_<id>`) |
| Moodle | `participant_id` (in the folder or file name), `name` (the full name) |
| nbgrader | `login` (the student's folder) |
| a plain file or folder | `any` (the file or folder name) |

A kind is looked up in its own columns only (`any`: `student`, `login`, `sis_id`, `email`), so a
Canvas user id is never mistaken for someone's SIS id. Values are compared ignoring case and
surrounding space; names also ignoring punctuation, spaces and word order ("Lima, Ana" is
"ana lima" is the Canvas `limaana`). The first way that matches exactly one roster entry decides;
one that matches several entries (two students named alike) is skipped; a submission that
matches no entry is graded under its own id and reported as not on the roster. A platform's own
id (`lms_id`, `participant_id`) decides alone when the roster has that column: the name is then
never tried, so two students with one name are never confused and a typo in a name changes
nothing.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from autograder.core.errors import UserError
from autograder.core.safe_text import one_line
from autograder.intake.student_id import is_student_id

ID_COLUMNS = ("login", "sis_id", "email", "name", "lms_id", "participant_id")
COLUMNS_OF_KIND = {
    "any": ("student", "login", "sis_id", "email"),
    "login": ("login", "student"),
    "sis_id": ("sis_id", "student"),
    "email": ("email",),
    "name": ("name",),
    "lms_id": ("lms_id",),
    "participant_id": ("participant_id",),
}
# Ids a platform gives its students: where the roster carries them, nothing else is tried.
PLATFORM_IDS = ("lms_id", "participant_id")
MOODLE_IDENTIFIER = re.compile(r"participant\s*(?P<number>\d+)", re.IGNORECASE)
MAX_ROSTER_BYTES = 20 * 2**20


class RosterError(UserError):
    """A roster file that cannot be used, described in one line."""


@dataclass(frozen=True)
class RosterEntry:
    student: str
    ids: tuple[tuple[str, str], ...]  # (column, value) of the other id columns that are filled

    def get(self, column: str) -> str:
        return self.student if column == "student" else dict(self.ids).get(column, "")


def _plain(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def _name_forms(value: str) -> set[str]:
    """Every word order of a name, its words joined without separators."""
    words = "".join(char if char.isalnum() else " " for char in _plain(value)).split()
    return {"".join(words[start:] + words[:start]) for start in range(len(words))}


def _keys(column: str, value: str) -> set[str]:
    if column == "name":
        return _name_forms(value)
    moodle = MOODLE_IDENTIFIER.fullmatch(value.strip()) if column == "participant_id" else None
    return {moodle["number"] if moodle else _plain(value)} - {""}


class Roster:
    def __init__(self, entries: list[RosterEntry], source: str = "roster"):
        self.entries = entries
        self.source = source
        self._index: dict[tuple[str, str], list[RosterEntry]] = {}
        self.carried = {column for column in PLATFORM_IDS
                        if any(entry.get(column) for entry in entries)}  # fmt: skip
        for entry in entries:
            for column in ("student", *ID_COLUMNS):
                for key in _keys(column, entry.get(column)):
                    self._index.setdefault((column, key), []).append(entry)

    def match(self, names: tuple[tuple[str, str], ...]) -> tuple[RosterEntry | None, str]:
        """(entry, "") for the entry the names point to, else (None, why not)."""
        ambiguous: list[str] = []
        decisive = [(kind, value) for kind, value in names if kind in self.carried]
        for kind, value in decisive or names:
            found: dict[str, RosterEntry] = {}
            for column in COLUMNS_OF_KIND.get(kind, ()):
                for key in _keys(column, value):
                    for entry in self._index.get((column, key), []):
                        found[entry.student] = entry
            if len(found) == 1:
                return next(iter(found.values())), ""
            if found:
                ambiguous.append(f"{kind} {one_line(value, 60)!r} matches "
                                 + ", ".join(sorted(found)))  # fmt: skip
            elif decisive:
                ambiguous.append(f"{kind} {one_line(value, 60)!r} is not on the roster")
        return None, "; ".join(ambiguous)


def load_roster(path: Path) -> Roster:
    path = Path(path)
    label = one_line(path, 200)
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"{label}: over {MAX_ROSTER_BYTES >> 20} MB; is this the roster?")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"{label}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RosterError(f"{label}: cannot be read ({one_line(error, 120)})") from None
    rows = csv.DictReader(io.StringIO(text, newline=""))
    header = {(name or "").strip().casefold(): name for name in rows.fieldnames or []}
    if "student" not in header:
        raise RosterError(f"{label}: needs a `student` column (the id used in the gradebook); "
                          f"found {', '.join(map(repr, rows.fieldnames or [])) or 'no header'}")
    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        student = (row.get(header["student"]) or "").strip()
        if not student:
            raise RosterError(f"{label}: line {line}: empty `student`")
        if not is_student_id(student):
            raise RosterError(f"{label}: line {line}: student {one_line(student, 60)!r} is not "
                              "a usable id (1 to 64 letters, digits and _ - . @ +, starting with "
                              "a letter or digit)")  # fmt: skip
        if student.casefold() in seen:
            raise RosterError(f"{label}: line {line}: student {student!r} is also on line "
                              f"{seen[student.casefold()]}")  # fmt: skip
        seen[student.casefold()] = line
        ids = tuple((column, one_line(row.get(header[column]) or "", 200))
                    for column in ID_COLUMNS if column in header
                    and (row.get(header[column]) or "").strip())  # fmt: skip
        entries.append(RosterEntry(student, ids))
    if not entries:
        raise RosterError(f"{label}: no students in it")
    return Roster(entries, label)
