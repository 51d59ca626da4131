"""The names Canvas and Moodle give the files of a "download all submissions" zip, read back.

Canvas (`lib/content_zipper.rb`, `add_upload_submission` and `get_filename`) writes each file of
an upload as `<name>[_LATE]_<user id>_<attachment id>_<display name>`, where `<name>` is the
student's sortable name ("Smith, John") lower-cased with every character that is not a letter,
digit or `_` removed (`smithjohn`; a sortable name with `_` keeps it: `test_studentpat`), and
with `_<digits>_` collapsed so that the first two all-digit fields of the name are the user id and
the attachment id (how Canvas's own `infer_comment_context_from_filename` reads it back). `LATE`
marks a submission Canvas counted as late. With anonymous grading the name is left out and the id
is `anon_<anonymous id>` (5 base58 characters): `[LATE_]anon_<id>_<attachment id>_<display name>`.
The display name keeps the student's file name (`/\\:*?"<>|` replaced by `_`).

Moodle (`mod/assign/classes/downloader.php`, since 4.1) writes `<prefix>_assignsubmission_file/`
folders holding the student's files (their own sub-folders kept), or, with "download submissions
in folders" off, files `<prefix>_assignsubmission_file_<file name>`; Moodle before 4.1
(`mod/assign/locallib.php`, `download_submissions`) wrote the folders with a trailing `_`:
`<prefix>_assignsubmission_file_/`. `<prefix>` is `<Full Name>_<participant id>`, the full name
with `_` replaced by spaces and the participant id the number Moodle gives each student in the
assignment; with blind marking the name is `Participant`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CANVAS_FILE = re.compile(
    r"(?P<who>.+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<attachment>\d+)_(?P<display>.+)"
)
CANVAS_ANONYMOUS_FILE = re.compile(
    r"(?P<late>LATE_)?anon_(?P<anonymous>[1-9A-HJ-NP-Za-km-z]{5})_(?P<attachment>\d+)_"
    r"(?P<display>.+)"
)
MOODLE_PREFIX = r"(?P<name>[^_/]+)_(?P<participant>\d+)_assignsubmission_file"
MOODLE_FOLDER = re.compile(MOODLE_PREFIX + "_?")
MOODLE_FILE = re.compile(MOODLE_PREFIX + "_(?P<display>.+)")
MOODLE_BLIND_NAME = "Participant"


@dataclass(frozen=True)
class CanvasFile:
    """One file of a Canvas download, as its name says."""

    student: str  # the part that names the student: `<name>_<user id>`, or `anon_<id>`
    user_id: str  # "" when anonymous
    anonymous_id: str  # "" unless anonymous
    sortable_name: str  # "" when anonymous
    late: bool
    display_name: str  # the name the student gave the file


@dataclass(frozen=True)
class MoodleFile:
    """One file of a Moodle download, as its folder or name says."""

    participant_id: str
    full_name: str  # "" with blind marking
    display_name: str  # the file's own name


def canvas_file(name: str) -> CanvasFile | None:
    """The Canvas file a top-level file name describes, or None when it is not one."""
    anonymous = CANVAS_ANONYMOUS_FILE.fullmatch(name)
    if anonymous:
        return CanvasFile(f"anon_{anonymous['anonymous']}", "", anonymous["anonymous"], "",
                          bool(anonymous["late"]), anonymous["display"])  # fmt: skip
    named = CANVAS_FILE.fullmatch(name)
    if named is None:
        return None
    return CanvasFile(f"{named['who']}_{named['user']}", named["user"], "", named["who"],
                      bool(named["late"]), named["display"])  # fmt: skip


def moodle_file(parts: tuple[str, ...]) -> MoodleFile | None:
    """The Moodle file a path (relative to the download's top) describes, or None."""
    if len(parts) > 1:
        match = MOODLE_FOLDER.fullmatch(parts[0])
        display = parts[-1]
    else:
        match = MOODLE_FILE.fullmatch(parts[0])
        display = match["display"] if match else ""
    if match is None:
        return None
    name = "" if match["name"] == MOODLE_BLIND_NAME else match["name"]
    return MoodleFile(match["participant"], name, display)
