"""Ship what grading one lab needs to a machine that has only the kit installed.

A remote grading worker needs the course's `course_config.py`, the lab's hidden tests
(`tests/<lab>/` and `tests/conftest.py`), the lab's source folder (the reference) and the course's
own `courselib` when it has one. The client packs them into one zip (`pack`), sends it with the
worker plugin, and each worker unpacks it (`unpack`) into a private folder of its own (mode 0700,
under the worker's temporary folder, which a bubblewrap sandbox replaces with its own /tmp), never
a shared folder the sandbox could see. Other labs' notebooks come along only because the config
checks that every lab's notebook exists.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from autograder.core.config import CONFIG_FILE, Course

SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class BundleError(Exception):
    """A course bundle that cannot be packed or unpacked, in one line."""


def _files_under(folder: Path) -> Iterator[Path]:
    # followlinks: a course may link its courselib (or a lab folder) from elsewhere
    for top, folders, files in os.walk(folder, followlinks=True):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_PARTS)
        for name in sorted(files):
            yield Path(top) / name


def bundle_files(course: Course, lab_id: str) -> list[Path]:
    """The course files a worker needs to grade `lab_id`, as paths inside the course."""
    root = course.root
    files = [root / CONFIG_FILE]
    tests = course.tests_dir(lab_id)
    files += [path for path in (tests.parent).glob("*.py") if path.is_file()]  # tests/conftest.py
    files += list(_files_under(tests))
    files += list(_files_under(course.source_dir(lab_id)))
    files += [course.lab(other).notebook for other in course.labs]
    if (root / "courselib").is_dir():
        files += list(_files_under(root / "courselib"))
    return sorted({path for path in files if path.is_file()})


def pack(course: Course, lab_id: str) -> bytes:
    """The zip of `bundle_files`, with paths relative to the course folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in bundle_files(course, lab_id):
            try:
                name = path.relative_to(course.root).as_posix()
            except ValueError:
                raise BundleError(f"{path}: outside the course folder {course.root}") from None
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)),
                             path.read_bytes())  # fmt: skip
    return buffer.getvalue()


def unpack(bundle: bytes, folder: Path) -> Path:
    """Unpack `bundle` into `folder` (which must be empty and private); returns the course root."""
    folder = Path(folder)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        for entry in archive.infolist():
            name = PurePosixPath(entry.filename)
            if name.is_absolute() or ".." in name.parts or entry.is_dir():
                raise BundleError(f"course bundle: unexpected entry {entry.filename!r}")
            target = folder.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(entry))
    if not (folder / CONFIG_FILE).is_file():
        raise BundleError(f"course bundle: no {CONFIG_FILE} in it")
    return folder
