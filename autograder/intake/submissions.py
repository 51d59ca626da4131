"""Turn the TA's inputs into submissions: one notebook per student, with its submission time.

Inputs are `.ipynb` files, folders, or zip files of folders (a `.ipynb` file is always a
notebook, never an archive: a file named so that is something else is graded zero as "not a
notebook"). A folder or zip holds one of these layouts:

- Gradescope export: `submission_metadata.yml` at the top, or in the export's one top folder
  (`assignment_<id>_export/`), and a `submission_<id>/` folder per submission. Student: the
  submitter's SID, else email, else name. Time: `:created_at:`.
- Canvas download (`autograder.intake.lms_names`): files
  `<name>[_LATE]_<user id>_<attachment id>_<file>`, read from the right of the name (the name
  may hold `_`); anonymous grading: `[LATE_]anon_<id>_<attachment id>_<file>`. Student:
  `<name>_<user id>`, or `anon_<id>`. Time: not LATE means on time, so the due date stands for
  it; LATE is an unknown time (the download does not say how late).
- Moodle download: folders `<Full Name>_<participant id>_assignsubmission_file/` (Moodle 4.1
  on) or `..._assignsubmission_file_/` (before), or flat files
  `<Full Name>_<participant id>_assignsubmission_file_<file>`. Student:
  `<full-name>_<participant id>` (`participant_<id>` with blind marking). Time: none.
- nbgrader: `[submitted/]<student>/<assignment>/<notebook>.ipynb` with `timestamp.txt` beside it
  (or in an assignment folder named after the lab). Student: the student's folder. Time:
  `timestamp.txt`.
- flat: `<student>.ipynb` at the top. Student: the file name. Time: none.
- folder per student: `<student>/.../<notebook>.ipynb`. Student: the top folder. Time: none.

A folder or zip whose only content is one folder holding several submissions (a zipped
`inbox/`) is read from inside that folder; one holding a single student's notebook is that
student's (`ann/lab.ipynb`).

Every name becomes an id by the one rule of `autograder.intake.student_id`, and `--roster` maps
ids to the course's (`autograder.intake.roster`). Times are read by
`autograder.intake.submission_time`; a missing or unreadable time is unknown (`None`, with the
reason in `time_note`) and the late policy's `unknown_time` decides what it counts as.

One notebook per student:
- a student with several notebooks in one submission gets the one the rule of
  `autograder.intake.notebook_choice` picks (the rule Gradescope's run_autograder uses too:
  AppleDouble files, `__MACOSX/`, checkpoints and hidden files ignored; the lab's name, applied
  to the name the student gave the file, then a single notebook, then the one that defines the
  lab's graded names), with a note saying which; else none: refused, naming the files;
- a Gradescope student with several submissions gets the active one (`:active: true`), else the
  latest;
- two inputs that give the same student (ids equal ignoring case, after the roster): the latest
  is graded when both times are known, with a note; otherwise neither is, with a line naming
  both. The same file reached twice is one submission.

Files are not read here, except to see which of a student's notebooks defines the lab's graded
names (a broken notebook is graded zero with the reason). An input path that
does not exist stops everything (`IntakeError`, a typo); anything else that cannot be taken (a
bad archive or entry, unreadable metadata, an ambiguous student) refuses only itself, with one
line in `Intake.refused`.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from autograder.core.config import Lab
from autograder.core.errors import UserError
from autograder.core.safe_text import one_line
from autograder.intake.archive import unpack
from autograder.intake.lms_names import CanvasFile, MoodleFile, canvas_file, moodle_file
from autograder.intake.notebook_choice import (
    Candidate,
    candidates,
    choose_notebook,
    is_ignored,
    lab_graded_names,
    notebook_files,
)
from autograder.intake.roster import Roster
from autograder.intake.student_id import same_student_key, student_id
from autograder.intake.submission_time import read_time

GRADESCOPE_METADATA = "submission_metadata.yml"
MAX_METADATA_BYTES = 20 * 2**20
MAX_YAML_DEPTH = 20
MAX_SUBMITTERS = 50
LISTED_NAMES = 20  # names listed in one summary line before "and N more"



class IntakeError(UserError):
    """An input path that is not there: nothing is graded (one line)."""


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path
    submitted_at: datetime | None
    origin: str  # where it came from, for messages
    time_note: str = ""  # where the time came from, or why it is unknown
    names: tuple[tuple[str, str], ...] = ()  # (kind, value): what the input calls the student
    roster: tuple[tuple[str, str], ...] = ()  # the student's roster ids, once matched
    on_roster: bool | None = None  # None: no roster was given


@dataclass
class Intake:
    submissions: list[Submission] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one line each: not graded, and why
    notes: list[str] = field(default_factory=list)  # choices made (resubmissions, latest wins)
    not_on_roster: list[str] = field(default_factory=list)
    without_submission: list[str] = field(default_factory=list)
    roster_used: bool = False

    def lines(self) -> list[str]:
        lines = [f"refused: {line}" for line in self.refused]
        lines += [f"note: {line}" for line in self.notes]
        if self.roster_used:
            if self.not_on_roster:
                lines.append(f"roster: {len(self.not_on_roster)} graded students are not on it: "
                             + _listed(self.not_on_roster))  # fmt: skip
            if self.without_submission:
                lines.append(f"roster: {len(self.without_submission)} students on it have no "
                             "submission: " + _listed(self.without_submission))  # fmt: skip
        return lines


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED_NAMES])
    return shown + (f" and {len(names) - LISTED_NAMES} more" if len(names) > LISTED_NAMES else "")


# --------------------------------------------------------------------------- finding notebooks


@dataclass(frozen=True)
class _Expected:
    """What the intake knows of the lab: its id, graded names and due date."""

    lab_id: str
    graded_names: frozenset[str] = frozenset()
    due: datetime | None = None


def _notebook_files(root: Path, label: str, intake: Intake) -> list[Path]:
    return notebook_files(root, lambda why: intake.refused.append(f"{label}: {why}"))


# --------------------------------------------------------------------------- Gradescope


class _StrictYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases (a few hundred bytes of nested aliases expand to
    gigabytes) and deep nesting; Ruby type tags of Gradescope's exports read as plain data."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("it uses YAML aliases (*name), which an export never needs")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"it is nested more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_StrictYamlLoader.add_multi_constructor("!ruby/", _untagged)


class _Refused(Exception):
    """One input, entry or submission that is not taken, and why."""


def _read_metadata(path: Path) -> dict:
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise _Refused(f"{GRADESCOPE_METADATA} is over {MAX_METADATA_BYTES >> 20} MB")
    try:
        data = yaml.load(path.read_bytes().decode("utf-8"), Loader=_StrictYamlLoader)  # noqa: S506
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError) as error:
        raise _Refused(f"{GRADESCOPE_METADATA} cannot be read: {one_line(error, 160)}") from None
    if not isinstance(data, dict):
        raise _Refused(f"{GRADESCOPE_METADATA} is not a mapping of submissions "
                       f"(it is a {type(data).__name__})")  # fmt: skip
    return data


def _symbol_keys(value: object, what: str) -> dict[str, Any]:
    """A mapping of Gradescope's Ruby-symbol keys (`:name`) as plain string keys."""
    if not isinstance(value, dict):
        raise _Refused(f"{what} is not a mapping (it is a {type(value).__name__})")
    return {str(key).removeprefix(":"): item for key, item in value.items()}


def _text_field(info: dict, key: str, what: str) -> str:
    value = info.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Refused(f"{what}.{key} is not text (it is a {type(value).__name__})")
    return one_line(value, 200)


@dataclass(frozen=True)
class _GradescopeEntry:
    submission: Submission
    active: bool | None


def _gradescope_entry(root: Path, key: object, value: object, label: str, lab: _Expected,
                      tz: ZoneInfo, intake: Intake) -> list[_GradescopeEntry]:  # fmt: skip
    """One metadata entry: a submission for each of its submitters."""
    if not isinstance(key, str) or not re.fullmatch(r"[\w-][\w.-]*", key):
        raise _Refused(f"entry {one_line(key, 60)!r} is not a submission folder name")
    info = _symbol_keys(value, key)
    submitters = info.get("submitters")
    if not isinstance(submitters, list) or not 0 < len(submitters) <= MAX_SUBMITTERS:
        raise _Refused(f"{key}: submitters is not a list of 1 to {MAX_SUBMITTERS} people")
    active = info.get("active")
    if active is not None and not isinstance(active, bool):
        raise _Refused(f"{key}: active is not true or false")
    created_at = info.get("created_at")
    if created_at is not None and not isinstance(created_at, str | datetime):
        raise _Refused(f"{key}: created_at is not a time")
    folder = root / key
    if not folder.is_dir() or folder.is_symlink():
        raise _Refused(f"{key}: the export has no folder {key}/")
    chosen, why = choose_notebook(candidates(_notebook_files(folder, label, intake)),
                                  lab.lab_id, lab.graded_names)  # fmt: skip
    if chosen is None:
        raise _Refused(f"{key}: {why}")
    if why:
        intake.notes.append(f"{label}: {key}: {why}")
    moment, time_note = read_time(created_at, tz, "Gradescope created_at") if created_at \
        else (None, "Gradescope gives no created_at")  # fmt: skip
    entries = []
    for index, person in enumerate(submitters):
        who = _symbol_keys(person, f"{key}.submitters[{index}]")
        sid, email, name = (_text_field(who, field_name, f"{key}.submitters[{index}]")
                            for field_name in ("sid", "email", "name"))  # fmt: skip
        names = tuple((kind, value) for kind, value in
                      (("sis_id", sid), ("email", email), ("name", name)) if value)  # fmt: skip
        submission = Submission(
            student=student_id(sid or email or name or key), path=chosen.path,
            submitted_at=moment, origin=f"{label}: {key}", time_note=time_note, names=names,
        )  # fmt: skip
        entries.append(_GradescopeEntry(submission, active))
    return entries


def _gradescope(root: Path, label: str, lab: _Expected, tz: ZoneInfo,
                intake: Intake) -> list[Submission]:  # fmt: skip
    try:
        metadata = _read_metadata(root / GRADESCOPE_METADATA)
    except _Refused as why:
        intake.refused.append(f"{label}: {why}")
        return []
    by_student: dict[str, list[_GradescopeEntry]] = {}
    for key, value in metadata.items():
        try:
            for entry in _gradescope_entry(root, key, value, label, lab, tz, intake):
                by_student.setdefault(same_student_key(entry.submission.student), []).append(entry)
        except _Refused as why:
            intake.refused.append(f"{label}: {why}")
    found = []
    for entries in by_student.values():
        chosen = _active_submission(entries, intake)
        if chosen is not None:
            found.append(chosen)
    return found


def _active_submission(entries: list[_GradescopeEntry], intake: Intake) -> Submission | None:
    """A Gradescope student's submission to grade: the active one, else the latest."""
    if len(entries) == 1:
        return entries[0].submission
    subs = [entry.submission for entry in entries]
    student = subs[0].student
    active = [entry.submission for entry in entries if entry.active]
    if len(active) == 1:
        chosen, why = active[0], "the active one"
    elif all(sub.submitted_at for sub in subs) and len({sub.submitted_at for sub in subs}) == len(
        subs
    ):
        chosen, why = max(subs, key=lambda sub: sub.submitted_at), "the latest"  # type: ignore
    else:
        intake.refused.append(f"{student}: {len(subs)} Gradescope submissions, none "
                              "marked active and their times do not tell the latest: "
                              + "; ".join(sub.origin for sub in subs))  # fmt: skip
        return None
    others = "; ".join(sub.origin for sub in subs if sub is not chosen)
    intake.notes.append(f"{student}: {len(subs)} Gradescope submissions: graded {why}, "
                        f"{chosen.origin} (not {others})")  # fmt: skip
    return chosen


def _gradescope_root(root: Path) -> Path | None:
    """Where an export's metadata is: at the top, or in the export's one top folder."""
    if (root / GRADESCOPE_METADATA).is_file():
        return root
    tops = [path for path in root.iterdir() if path.is_dir() and not path.is_symlink()
            and not is_ignored(path.name)]  # fmt: skip
    if len(tops) == 1 and (tops[0] / GRADESCOPE_METADATA).is_file():
        return tops[0]
    return None


# --------------------------------------------------------------------------- other layouts


@dataclass(frozen=True)
class _Found:
    """A notebook and whose it is, before one is chosen per student."""

    group: tuple[str, str]  # the notebooks of one student in one input share it
    submission: Submission
    display_name: str  # the name the student gave the file (without a platform's prefix)


def _slug(name: str) -> str:
    return "-".join(re.findall(r"\w+", name.casefold())) or "student"


def _nbgrader_time(folder: Path, tz: ZoneInfo) -> tuple[datetime | None, str]:
    stamp = folder / "timestamp.txt"
    if not stamp.is_file() or stamp.is_symlink():
        return None, "nbgrader's timestamp.txt is missing"
    with stamp.open("rb") as handle:
        text = handle.read(200).decode("utf-8", errors="replace")
    return read_time(text, tz, "timestamp.txt")


def _canvas_time(late: bool, lab: _Expected) -> tuple[datetime | None, str]:
    """Canvas's download carries one bit of time: LATE, or not. Not LATE means submitted by the
    due date, so the due date stands for the time; LATE says nothing of how late."""
    if late:
        return None, "Canvas marks it LATE and its download does not say how late"
    if lab.due is None:
        return None, "Canvas downloads carry no submission time"
    return lab.due, "Canvas: not marked LATE, so on time (counted at the due date)"


def _canvas(path: Path, origin: str, file: CanvasFile, lab: _Expected) -> _Found:
    moment, note = _canvas_time(file.late, lab)
    if file.anonymous_id:  # anonymous grading: the anonymous id is the student
        names: tuple[tuple[str, str], ...] = (("anon_id", file.anonymous_id),)
    else:
        names = (("lms_id", file.user_id), ("name", file.sortable_name))
    return _Found(("canvas", file.student.casefold()),
                  Submission(student_id(file.student), path, moment, origin, note, names),
                  file.display_name)  # fmt: skip


def _moodle(path: Path, origin: str, file: MoodleFile) -> _Found:
    names = (("participant_id", file.participant_id),)
    if file.full_name:  # blind marking leaves the name out
        names += (("name", file.full_name),)
    who = _slug(file.full_name) if file.full_name else "participant"
    return _Found(("moodle", file.participant_id),
                  Submission(student_id(f"{who}_{file.participant_id}"), path, None, origin,
                             "Moodle downloads carry no submission time", names),
                  file.display_name)  # fmt: skip


def _classify(root: Path, path: Path, label: str, lab: _Expected, tz: ZoneInfo) -> _Found:
    parts = path.relative_to(root).parts
    origin = f"{label}: {_relative(path, root)}"
    canvas = canvas_file(parts[0]) if len(parts) == 1 else None
    if canvas:
        return _canvas(path, origin, canvas, lab)
    moodle = moodle_file(parts)
    if moodle:
        return _moodle(path, origin, moodle)
    if len(parts) >= 3 and ((path.parent / "timestamp.txt").is_file()
                            or path.parent.name == lab.lab_id):  # fmt: skip
        folder_name = parts[-3]
        moment, note = _nbgrader_time(path.parent, tz)
        return _Found(("nbgrader", same_student_key(student_id(folder_name))),
                      Submission(student_id(folder_name), path, moment, origin, note,
                                 (("login", folder_name),)), path.name)  # fmt: skip
    if len(parts) == 1:
        return _Found(("file", str(path)),
                      Submission(student_id(path.stem), path, None, origin,
                                 "a plain folder carries no submission time",
                                 (("any", path.stem),)), path.name)  # fmt: skip
    return _Found(("folder", parts[0]),
                  Submission(student_id(parts[0]), path, None, origin,
                             "a plain folder carries no submission time",
                             (("any", parts[0]),)), path.name)  # fmt: skip


def _relative(path: Path, root: Path) -> str:
    return one_line(path.relative_to(root).as_posix(), 200)


def _holds_notebooks(path: Path) -> bool:
    if path.is_symlink():
        return False
    if path.is_file():
        return path.suffix.lower() == ".ipynb"
    return any(name.lower().endswith(".ipynb") for _, _, files in os.walk(path) for name in files)


def _submissions_root(root: Path, lab_id: str) -> Path:
    """Where the submissions start: `submitted/` of an nbgrader course folder, and inside a lone
    top folder that holds several submissions (a zipped `inbox/`), but not inside one student's
    folder (`ann/lab.ipynb`, `ann/lab.ipynb` with `ann/scratch.ipynb`)."""
    while True:
        if (root / "submitted").is_dir() and not (root / "submitted").is_symlink():
            return root / "submitted"
        entries = [path for path in root.iterdir() if not is_ignored(path.name)]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
            return root
        holding = [path for path in entries[0].iterdir()
                   if not is_ignored(path.name) and _holds_notebooks(path)]  # fmt: skip
        named_after_lab = any(path.is_file() and Candidate(path, path.name).upload[0].casefold()
                              == lab_id.casefold() for path in holding)  # fmt: skip
        if len(holding) < 2 or named_after_lab:
            return root
        root = entries[0]


def _from_folder(root: Path, label: str, lab: _Expected, tz: ZoneInfo,
                 intake: Intake) -> list[Submission]:  # fmt: skip
    export = _gradescope_root(root)
    if export is not None:
        return _gradescope(export, label, lab, tz, intake)
    root = _submissions_root(root, lab.lab_id)
    groups: dict[tuple[str, str], list[_Found]] = {}
    for notebook in _notebook_files(root, label, intake):
        found = _classify(root, notebook, label, lab, tz)
        groups.setdefault(found.group, []).append(found)
    submissions = []
    for group in groups.values():
        student = group[0].submission.student
        chosen, why = choose_notebook([Candidate(found.submission.path, found.display_name)
                                       for found in group], lab.lab_id, lab.graded_names)
        if chosen is None:
            intake.refused.append(f"{student}: {why} in {label}")
            continue
        if why:
            intake.notes.append(f"{student}: {why} in {label}")
        submissions.append(next(found.submission for found in group
                                if found.submission.path == chosen.path))  # fmt: skip
    return submissions


def _single_notebook(path: Path, lab_id: str, tz: ZoneInfo) -> Submission:
    """A notebook given by itself: `<student>.ipynb`, or nbgrader's `<student>/<lab>/<nb>.ipynb`."""
    student = path.stem
    if path.parent.name == lab_id and path.parent.parent.name:
        student = path.parent.parent.name
    elif path.stem == lab_id and path.parent.name:
        student = path.parent.name
    if (path.parent / "timestamp.txt").is_file():
        moment, note = _nbgrader_time(path.parent, tz)
    else:
        moment, note = None, "a single notebook file carries no submission time"
    return Submission(student_id(student), path, moment, one_line(path, 300), note,
                      (("any", student),))  # fmt: skip


# --------------------------------------------------------------------------- the whole intake


def _apply_roster(
    submissions: list[Submission], roster: Roster, intake: Intake
) -> list[Submission]:
    mapped = []
    for sub in submissions:
        entry, ambiguity = roster.match(sub.names or (("any", sub.student),))
        if entry is None:
            intake.not_on_roster.append(sub.student + (f" ({ambiguity})" if ambiguity else ""))
            mapped.append(replace(sub, on_roster=False))
        else:
            mapped.append(replace(sub, student=entry.student, roster=entry.ids, on_roster=True))
    return mapped


def _one_per_student(submissions: list[Submission], intake: Intake) -> list[Submission]:
    """One submission per student across all inputs: the latest when times tell, else none."""
    groups: dict[str, dict[Path, Submission]] = {}
    for sub in submissions:  # the same file reached twice (a folder and a file in it) is one
        groups.setdefault(same_student_key(sub.student), {}).setdefault(sub.path.resolve(), sub)
    kept = []
    for by_path in groups.values():
        subs = list(by_path.values())
        if len(subs) == 1:
            kept.append(subs[0])
            continue
        times = [sub.submitted_at for sub in subs]
        described = "; ".join(f"{sub.origin} ({sub.submitted_at:%Y-%m-%d %H:%M %Z})"
                              if sub.submitted_at else sub.origin for sub in subs)  # fmt: skip
        if all(times) and len(set(times)) == len(times):
            latest = max(subs, key=lambda sub: sub.submitted_at)  # type: ignore[arg-type,return-value]
            intake.notes.append(f"{latest.student}: {len(subs)} submissions map to this student, "
                                f"the latest is graded: {described}")  # fmt: skip
            kept.append(latest)
        else:
            intake.refused.append(
                f"{subs[0].student}: {len(subs)} different submissions map to this "
                f"student and their times do not tell the latest, so none is graded: "
                f"{described}; rename one, or map them with --roster"
            )
    return sorted(kept, key=lambda sub: sub.student)


def gather(
    inputs: list[Path], lab_id: str, tz: ZoneInfo, scratch: Path, roster: Roster | None = None,
    lab: Lab | None = None,
) -> Intake:
    """Every submission in `inputs`, one per student, and what was refused or chosen. With the
    course's `lab`, its graded names choose among a student's notebooks and its due date stands
    for the time of a Canvas submission not marked LATE."""
    expected = _Expected(lab_id, lab_graded_names(lab.notebook), lab.due) if lab \
        else _Expected(lab_id)  # fmt: skip
    intake = Intake(roster_used=roster is not None)
    missing = [str(path) for path in inputs if not Path(path).exists()]
    if missing:
        raise IntakeError(f"{one_line(missing[0], 300)}: no such file or folder")
    found: list[Submission] = []
    for number, raw in enumerate(inputs):
        path = Path(raw)
        label = one_line(path, 300)
        if path.is_file() and path.suffix.lower() == ".ipynb":
            found.append(_single_notebook(path, lab_id, tz))
            continue
        refused_before = len(intake.refused)
        if path.is_dir():
            folder = path
        elif path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
            scratch.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"archive-{number}-", dir=scratch)) / "files"
            unpacked, refused = unpack(path, folder)
            intake.refused += refused
            if not unpacked:
                continue
        else:
            intake.refused.append(f"{label}: not a notebook (.ipynb), a folder or a "
                                  "zip file")  # fmt: skip
            continue
        submissions = _from_folder(folder, label, expected, tz, intake)
        if not submissions and len(intake.refused) == refused_before:
            intake.refused.append(f"{label}: no .ipynb notebooks in it")
        found += submissions
    if roster is not None:
        found = _apply_roster(found, roster, intake)
    intake.submissions = _one_per_student(found, intake)
    if roster is not None:
        graded = {same_student_key(sub.student) for sub in intake.submissions}
        intake.without_submission = [entry.student for entry in roster.entries
                                     if same_student_key(entry.student) not in graded]  # fmt: skip
    return intake


def collect(inputs: list[Path], lab_id: str, tz: ZoneInfo, scratch: Path) -> list[Submission]:
    """Every submission in `inputs`, for callers that need all or nothing: an `IntakeError`
    names the first refusal."""
    intake = gather(inputs, lab_id, tz, scratch)
    if intake.refused:
        more = f" (and {len(intake.refused) - 1} more)" if len(intake.refused) > 1 else ""
        raise IntakeError(intake.refused[0] + more)
    return intake.submissions
