"""Unpack a zip of submissions so that a bad entry refuses only itself.

An entry is refused, with one line naming it and why, when its path would leave the folder it is
unpacked to (absolute, `..`, a drive), it is a link or another special file, its name is too long
or nested too deep, it is bigger than an entry may be, it is encrypted or cannot be read, or it
appears twice. The other entries are unpacked. The whole archive is refused when it is not a
readable zip, has too many entries, or would unpack to too many bytes. Only regular files are
written, byte by byte with a budget, so a header that lies about sizes gains nothing.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from autograder.core.safe_text import one_line

MAX_ARCHIVE_BYTES = 4 * 2**30
MAX_ENTRY_BYTES = 256 * 2**20
MAX_ENTRIES = 20_000
MAX_NAME_CHARS = 255
MAX_DEPTH = 16
_COPY_CHUNK = 2**20


def _size(count: int) -> str:
    return f"{count} bytes" if count < 2**20 else f"{count / 2**20:.0f} MB"


class _EntryRefused(Exception):
    """Why one entry is not unpacked."""


def _entry_path(info: zipfile.ZipInfo, seen: set[str]) -> PurePosixPath | None:
    """The relative path to unpack an entry to; None for a folder entry."""
    name = info.filename
    if len(name) > MAX_NAME_CHARS:
        raise _EntryRefused(f"name too long ({len(name)} characters, at most {MAX_NAME_CHARS})")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise _EntryRefused("control characters in the name")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise _EntryRefused("a link, not a file")
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise _EntryRefused("a special file, not a regular file")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")) or ".." in parts:
        raise _EntryRefused("its path escapes the archive")
    parts = tuple(part for part in parts if part not in ("", "."))
    if len(parts) > MAX_DEPTH:
        raise _EntryRefused(f"nested too deep ({len(parts)} levels, at most {MAX_DEPTH})")
    if info.is_dir() or not parts:
        return None
    if info.flag_bits & 0x1:
        raise _EntryRefused("encrypted")
    if info.file_size > MAX_ENTRY_BYTES:
        raise _EntryRefused(f"too big ({_size(info.file_size)} unpacked, at most "
                            f"{_size(MAX_ENTRY_BYTES)})")  # fmt: skip
    key = "/".join(parts).casefold()
    if key in seen:
        raise _EntryRefused("appears twice in the archive")
    seen.add(key)
    return PurePosixPath(*parts)


def _copy_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as source, target.open("wb") as sink:
        while chunk := source.read(_COPY_CHUNK):
            written += len(chunk)
            if written > MAX_ENTRY_BYTES:
                raise _EntryRefused(f"too big (more than {_size(MAX_ENTRY_BYTES)} unpacked)")
            sink.write(chunk)


def unpack(zip_path: Path, target: Path) -> tuple[bool, list[str]]:
    """Unpack `zip_path` into the new folder `target`.

    Returns (unpacked, refused): `unpacked` is False when the whole archive is refused (nothing
    is left in `target` then); `refused` holds one line per refused entry or archive.
    """
    label = one_line(zip_path, 300)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ENTRIES:
                return False, [f"{label}: {len(members)} entries, at most {MAX_ENTRIES}"]
            declared = sum(member.file_size for member in members)
            if declared > MAX_ARCHIVE_BYTES:
                return False, [f"{label}: unpacks to {_size(declared)}, at most "
                               f"{_size(MAX_ARCHIVE_BYTES)}"]  # fmt: skip
            target.mkdir(parents=True)
            refused: list[str] = []
            seen: set[str] = set()
            for info in members:
                destination = None
                try:
                    relative = _entry_path(info, seen)
                    if relative is not None:
                        destination = target.joinpath(*relative.parts)
                        _copy_entry(archive, info, destination)
                    continue
                except _EntryRefused as why:
                    reason = str(why)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as error:
                    # A damaged entry (bad CRC, bad compression data) or one that cannot be
                    # written (a file where a folder should be): that entry only.
                    reason = f"cannot be unpacked ({one_line(error, 120)})"
                if destination is not None and destination.is_file():
                    destination.unlink()  # what was written of it before it was refused
                refused.append(f"{label}: entry {one_line(info.filename, 80)!r}: {reason}")
            return True, refused
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        shutil.rmtree(target, ignore_errors=True)
        return False, [f"{label}: not a readable zip file ({one_line(error, 120)})"]
