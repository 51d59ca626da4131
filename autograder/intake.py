"""Turn the TA's inputs into submissions: one notebook per student, with its submission time.

Inputs may be single `.ipynb` files, folders, or zip files of folders, in these layouts:

- flat: `<student>.ipynb` files in one folder;
- nbgrader: `submitted/<student>/<lab>/<notebook>.ipynb` with `timestamp.txt` beside it;
- Gradescope export: `submission_metadata.yml` at the top, one `submission_<id>/` folder per
  submission (the student id is the submitter's sid, else their email or name);
- otherwise `<student>/.../<notebook>.ipynb`: the first folder below the input names the student.

Files are not read here (the notebook is validated when it is graded, so that a broken notebook
becomes a zero with a reason rather than a stopped batch). A missing path, a file that is neither
a notebook nor a zip, or a broken zip is an `IntakeError` in one line, raised before any grading.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

MAX_ZIP_BYTES = 4 * 2**30
MAX_ZIP_MEMBERS = 20_000


class IntakeError(Exception):
    """An input that cannot be graded at all, described in one line."""


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path
    submitted_at: datetime | None
    origin: str  # where it came from, for messages


def _student_id(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.@+-]", "_", text.strip())[:100]
    return cleaned or "unknown"


def parse_time(value: object, tz: ZoneInfo) -> datetime | None:
    """A submission time from nbgrader's timestamp.txt or Gradescope's created_at."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip().strip("'\"")
        text = re.sub(r"\s+(UTC|GMT)$", "+00:00", text)
        text = re.sub(r"\s+([+-]\d{2}):?(\d{2})$", r"\1:\2", text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _extract(zip_path: Path, scratch: Path) -> Path:
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"zip-{len(list(scratch.iterdir()))}-{zip_path.stem}"
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise IntakeError(f"{zip_path}: {len(members)} files is over the limit")
            if sum(member.file_size for member in members) > MAX_ZIP_BYTES:
                raise IntakeError(f"{zip_path}: unpacks to more than {MAX_ZIP_BYTES >> 30} GB")
            for member in members:
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise IntakeError(f"{zip_path}: unsafe path in the zip: {member.filename}")
            archive.extractall(target)
    except zipfile.BadZipFile as error:
        raise IntakeError(f"{zip_path}: not a readable zip file ({error})") from None
    except OSError as error:
        raise IntakeError(f"{zip_path}: cannot be unpacked ({error.strerror or error})") from None
    return target


def _notebooks(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts and "__MACOSX" not in path.parts
        and path.is_file()
    )  # fmt: skip


def _gradescope(folder: Path, lab_id: str, tz: ZoneInfo) -> list[Submission]:
    import yaml

    try:
        metadata = yaml.safe_load((folder / "submission_metadata.yml").read_text()) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        raise IntakeError(f"{folder}/submission_metadata.yml: cannot be read ({error})") from None
    if not isinstance(metadata, dict):
        raise IntakeError(f"{folder}/submission_metadata.yml: not a mapping of submissions")
    found = []
    for key, info in metadata.items():
        info = {str(k).strip(":"): v for k, v in (info or {}).items()}
        submitters = info.get("submitters") or [{}]
        who = {str(k).strip(":"): v for k, v in (submitters[0] or {}).items()}
        student = _student_id(str(who.get("sid") or who.get("email") or who.get("name") or key))
        notebooks = _notebooks(folder / str(key))
        if not notebooks:
            continue
        chosen = next((nb for nb in notebooks if nb.stem == lab_id), notebooks[0])
        found.append(Submission(student, chosen, parse_time(info.get("created_at", ""), tz),
                                f"Gradescope {key}"))  # fmt: skip
    return found


def _from_folder(folder: Path, lab_id: str, tz: ZoneInfo) -> list[Submission]:
    if (folder / "submission_metadata.yml").is_file():
        return _gradescope(folder, lab_id, tz)
    found = []
    for notebook in _notebooks(folder):
        relative = notebook.relative_to(folder)
        parts = relative.parts
        submitted_at = None
        if notebook.parent.name == lab_id and len(notebook.relative_to(folder).parts) >= 3:
            student = notebook.parent.parent.name  # nbgrader: <student>/<lab>/<notebook>
            stamp = notebook.parent / "timestamp.txt"
            if stamp.is_file():
                submitted_at = parse_time(stamp.read_text(errors="replace")[:100], tz)
        elif len(parts) == 1:
            student = notebook.stem  # flat: <student>.ipynb
        else:
            student = parts[0]
        found.append(Submission(_student_id(student), notebook, submitted_at, str(notebook)))
    return found


def collect(inputs: list[Path], lab_id: str, tz: ZoneInfo, scratch: Path) -> list[Submission]:
    """Every submission in `inputs` (one per student: the latest, else the last found)."""
    found: list[Submission] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise IntakeError(f"{path}: no such file or folder")
        if path.is_dir():
            folder_subs = _from_folder(path, lab_id, tz)
            if not folder_subs:
                raise IntakeError(f"{path}: no .ipynb notebooks in this folder")
            found += folder_subs
        elif path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            folder_subs = _from_folder(_extract(path, scratch), lab_id, tz)
            if not folder_subs:
                raise IntakeError(f"{path}: no .ipynb notebooks in this zip")
            found += folder_subs
        elif path.suffix.lower() == ".ipynb":
            student = path.stem
            if path.stem == lab_id and path.parent.name:  # <student>/<lab>/<lab>.ipynb
                parent = path.parent
                student = parent.parent.name if parent.name == lab_id else parent.name
            found.append(Submission(_student_id(student), path, None, str(path)))
        else:
            raise IntakeError(f"{path}: not a notebook (.ipynb), a folder or a zip file")
    by_student: dict[str, Submission] = {}
    for submission in found:
        kept = by_student.get(submission.student)
        if kept is None or (submission.submitted_at or datetime.min.replace(tzinfo=tz)) >= (
            kept.submitted_at or datetime.min.replace(tzinfo=tz)
        ):
            by_student[submission.student] = submission
    return sorted(by_student.values(), key=lambda s: s.student)
