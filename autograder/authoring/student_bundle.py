"""What students receive beside the notebook: courselib as a wheel and pinned requirements.

Both are built byte-for-byte reproducibly (fixed zip timestamps, sorted entries), so releasing
twice changes nothing. The requirements pin the whole dependency closure of what a student needs
to open and run the notebook, with the versions of the kit's constraints file.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

STUDENT_PACKAGES = ("numpy", "scipy", "matplotlib", "torch", "ipykernel", "jupyterlab")
WHEEL_DATE = (1980, 1, 1, 0, 0, 0)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def courselib_version(courselib_dir: Path) -> str:
    match = re.search(r'__version__\s*=\s*"([^"]+)"', (courselib_dir / "__init__.py").read_text())
    if not match:
        raise ValueError(f"{courselib_dir}/__init__.py defines no __version__")
    return match.group(1)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_courselib_wheel(courselib_dir: Path, dest_dir: Path) -> Path:
    """Write `courselib-<version>-py3-none-any.whl` into dest_dir and return its path."""
    version = courselib_version(courselib_dir)
    dist_info = f"courselib-{version}.dist-info"
    files: dict[str, bytes] = {
        f"courselib/{path.relative_to(courselib_dir).as_posix()}": path.read_bytes()
        for path in sorted(courselib_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: courselib\nVersion: {version}\n"
        "Summary: Datasets, metrics and plots for the recurrent neural networks labs\n"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: autograder\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(name, data) for name, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = dest_dir / f"courselib-{version}-py3-none-any.whl"
    write_reproducible_zip(wheel, {name: (data, 0o644) for name, data in files.items()})
    return wheel


def write_reproducible_zip(path: Path, entries: dict[str, tuple[bytes, int]]) -> None:
    """A zip of `{name: (data, mode)}` in the given order, with fixed timestamps: the same
    entries always give the same bytes. `mode` is stored as the Unix mode `unzip` restores."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name, date_time=WHEEL_DATE)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def read_constraints(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_canonical(name)] = f"{name.strip()}=={version.strip()}"
    return pins


def dependency_closure(roots: tuple[str, ...]) -> set[str]:
    """Canonical names of `roots` and everything they require (no extras), as installed here."""
    seen: set[str] = set()
    todo = [_canonical(name) for name in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_canonical(requirement.name))
    return seen


def pinned_closure(constraints: Path, roots: tuple[str, ...]) -> list[str]:
    """`name==version` for `roots` and everything they require, from the constraints file."""
    pins = read_constraints(constraints)
    closure = dependency_closure(roots)
    missing = sorted(name for name in closure if name not in pins)
    if missing:
        raise ValueError(f"{constraints.name} does not pin {', '.join(missing)}")
    return sorted((pins[name] for name in closure), key=str.lower)


def student_requirements(constraints: Path, wheel_name: str) -> str:
    """requirements.txt for students: the courselib wheel and the pinned dependency closure."""
    lines = pinned_closure(constraints, STUDENT_PACKAGES)
    header = [
        "# Install with: pip install -r requirements.txt  (from this folder)",
        f"./{wheel_name}",
    ]
    return "\n".join(header + lines) + "\n"
