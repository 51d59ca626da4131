"""A copy of the Python installation that the sandbox uid can read (limits only, root grader).

Without bubblewrap, a root grader runs each submission as an unprivileged uid on the machine
itself. When the Python installation lives where only root can read it (pyenv or conda under
/root), that uid could not import the standard library. Rather than handing every child a
capability that reads any file on the host (the course's source notebooks, /etc/shadow), the
sandbox runs from a copy of the interpreter and its standard library in a folder every uid can
read (`/var/cache/autograder/python-<version>-<digest>`, made once and reused), as a virtual
environment whose site-packages are those of the grader's own environment. Those must be readable
by every uid (they are in a checkout's `.venv`); where they are not, grading with the limits only
is refused in one line saying what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from autograder.core.errors import UserError

CACHE = Path("/var/cache/autograder")
# Parts of the standard library that no notebook imports (and the base's own site-packages,
# which a virtual environment does not use)
LEFT_OUT = ("site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo",
            "ensurepip", "__phello__")  # fmt: skip


class UnreadablePython(UserError):
    """Limits-only grading cannot give the sandbox uid a Python it may read."""


def readable_by_others(path: str | Path) -> bool:
    """True when a process of another uid can reach `path` (every folder above it is o+x) and
    read it."""
    resolved = Path(path).resolve()
    folders = [resolved, *resolved.parents] if resolved.is_dir() else list(resolved.parents)
    if not all(folder.stat().st_mode & 0o001 for folder in folders if folder.exists()):
        return False
    return bool(resolved.stat().st_mode & 0o004)


def _site_folders() -> list[str]:
    return [entry for entry in sys.path if entry and Path(entry).is_dir()
            and Path(entry).name in ("site-packages", "dist-packages")]  # fmt: skip


def interpreter() -> str:
    """The interpreter the sandbox should run: this one when another uid can read its
    installation, else the readable copy (made now if missing)."""
    if readable_by_others(sys.base_prefix) and readable_by_others(sys.executable):
        return sys.executable
    sites = _site_folders()
    blocked = [site for site in sites if not readable_by_others(site)]
    if sys.prefix == sys.base_prefix or blocked:
        where = blocked[0] if blocked else sys.prefix
        raise UnreadablePython(
            f"grading without bubblewrap runs student code as an unprivileged uid, which cannot "
            f"read {where}: install bubblewrap (make does when it can), or install the kit in a "
            "virtual environment every uid can read")  # fmt: skip
    return str(_readable_copy(sites) / "venv" / "bin" / "python")


def _digest(sites: list[str]) -> str:
    binary = Path(sys._base_executable if hasattr(sys, "_base_executable") else sys.executable)
    info = binary.resolve().stat()
    text = "\0".join([sys.version, sys.base_prefix, str(info.st_size), str(info.st_mtime_ns),
                      *sites])  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _readable_copy(sites: list[str]) -> Path:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = CACHE / f"python-{sys.version.split()[0]}-{_digest(sites)}"
    if (target / "ready").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # graders starting at once copy it once
        if (target / "ready").is_file():
            return target
        shutil.rmtree(target, ignore_errors=True)
        base = target / "base"
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        shutil.copytree(stdlib, base / "lib" / f"python{version}",
                        ignore=shutil.ignore_patterns(*LEFT_OUT), symlinks=True)  # fmt: skip
        (base / "bin").mkdir(parents=True)
        binary = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
        shutil.copy2(binary, base / "bin" / f"python{version}")
        libdir = Path(sysconfig.get_config_var("LIBDIR") or "")
        for library in libdir.glob("libpython*.so*") if libdir.is_dir() else []:
            shutil.copy2(library, base / "lib" / library.name, follow_symlinks=True)
        venv = target / "venv"
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").symlink_to(base / "bin" / f"python{version}")
        (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\n"
                                         "include-system-site-packages = false\n"
                                         f"version = {sys.version.split()[0]}\n")  # fmt: skip
        site = venv / "lib" / f"python{version}" / "site-packages"
        site.mkdir(parents=True)
        # the grader's own environment (its .pth files included: an editable install)
        (site / "_autograder_environment.pth").write_text(
            "import site; " + "; ".join(f"site.addsitedir({path!r})" for path in sites) + "\n")
        for folder, _, files in os.walk(target):
            os.chmod(folder, 0o755)
            mode = 0o755 if Path(folder).name == "bin" else 0o644
            for name in files:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(folder, name), mode)
        (target / "ready").write_text("ok\n")
    return target


def library_path(python: str) -> str:
    """LD_LIBRARY_PATH for `python`: a copied interpreter's own libpython comes first (the
    original's RUNPATH points where the sandbox uid cannot read)."""
    copy = Path(python).parent.parent.parent / "base" / "lib"
    return str(copy) if python != sys.executable and copy.is_dir() else ""
