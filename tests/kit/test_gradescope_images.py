"""setup.sh on Gradescope's base images, tried here with a stand-in /autograder folder and a PATH
laid out as each image's: this machine's tools without its Python, plus a small `python3` that
reports the image's version (Ubuntu 22.04: 3.10, 20.04: 3.8, 18.04: 3.6) and, for 18.04, a
`getconf` that reports its glibc 2.27.

There is no internet here, so the standalone CPython that setup.sh installs on an image without
Python 3.11 comes from a local archive laid out as python-build-standalone's `install_only`
archives are (`python/bin/python3`, `python/bin/python3.11`), whose `python3.11` runs this
machine's Python 3.11; the archive is handed over through the URL and SHA-256 overrides, so the
download, the checksum, the unpacking and the venv built from it are the script's own. Gradescope's
autograder specification: /autograder/source holds the zip, setup.sh runs there once, as root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from course_files import REPO
from test_gradescope_export import unzip_as_gradescope

from autograder.core.config import load_course
from autograder.exports.gradescope import (
    IMAGES_THAT_FAIL,
    IMAGES_THAT_WORK,
    MIN_GLIBC,
    UNSUPPORTED_IMAGE,
    build_gradescope_zip,
)

LAB1 = "lab01_rnn_from_scratch"
REAL_PYTHON = os.path.realpath(sys.executable)


@pytest.fixture(scope="module")
def lab1_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gradescope_zip(load_course(REPO), LAB1, tmp_path_factory.mktemp("dist"))


def shim(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)


def image_path(tmp_path: Path, python: str, glibc: str | None = None) -> str:
    """A PATH with this machine's tools but no Python of its own, a `python3` that reports
    `python` (as `python3 -c` and `--version` answer), and `getconf` reporting `glibc`."""
    tools = tmp_path / "image-tools"
    tools.mkdir()
    for folder in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            if entry.name.startswith(("python", "pip")) or (tools / entry.name).exists():
                continue
            (tools / entry.name).symlink_to(entry)
    shims = tmp_path / "image-shims"
    shims.mkdir()
    shim(shims, "python3", f'case "$1" in --version|-V) echo "Python {python}.12";; '
                           f'*) echo "{python}";; esac\n')  # fmt: skip
    if glibc:
        shim(shims, "getconf", f'[ "$1" = GNU_LIBC_VERSION ] && echo "glibc {glibc}"\n')
    return f"{shims}:{tools}"


def standalone_archive(tmp_path: Path) -> tuple[str, str]:
    """(file URL, SHA-256) of an archive laid out as python-build-standalone's install_only:
    `python/bin/python3.11` (this machine's interpreter, copied) and `python/lib` (its library,
    linked), so that the interpreter's prefix is wherever the archive is unpacked."""
    python = tmp_path / "standalone" / "python"
    (python / "bin").mkdir(parents=True)
    shutil.copy2(REAL_PYTHON, python / "bin" / "python3.11")
    (python / "bin" / "python3").symlink_to("python3.11")
    (python / "lib").symlink_to(Path(sys.base_prefix) / "lib")
    archive = tmp_path / "cpython-3.11-install_only.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(python, arcname="python")
    return archive.as_uri(), hashlib.sha256(archive.read_bytes()).hexdigest()


def run_setup(root: Path, path: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(root / "source" / "setup.sh")], capture_output=True, text=True,
        cwd=root / "source", timeout=600,
        env={"PATH": path, "HOME": str(root), "AUTOGRADER_ROOT": str(root),
             "PIP_NO_INDEX": "1", **env},
    )  # fmt: skip


def test_ubuntu_18_04_stops_the_build_with_the_sentence_before_downloading(lab1_zip, tmp_path):
    root = unzip_as_gradescope(lab1_zip, tmp_path / "autograder")
    done = run_setup(root, image_path(tmp_path, "3.6", glibc="2.27"),
                     AUTOGRADER_PYTHON_URL=(tmp_path / "never-fetched.tar.gz").as_uri())
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"setup.sh: {UNSUPPORTED_IMAGE} (this image has glibc 2.27)"
    assert IMAGES_THAT_FAIL in last and IMAGES_THAT_WORK in last and MIN_GLIBC in last
    assert not (root / "python").exists() and not (root / "venv").exists()


def test_a_standalone_cpython_that_cannot_be_had_stops_the_build_with_the_reason(lab1_zip,
                                                                                 tmp_path):  # fmt: skip
    root = unzip_as_gradescope(lab1_zip, tmp_path / "autograder")
    path = image_path(tmp_path, "3.10")
    url, digest = standalone_archive(tmp_path)
    missing = run_setup(root, path, AUTOGRADER_PYTHON_URL=url + ".missing",
                        AUTOGRADER_PYTHON_SHA256=digest)  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        "setup.sh: this autograder needs Python 3.11 or newer; the image has 3.10 and the "
        f"standalone CPython from {url}.missing could not be installed: the download failed")
    tampered = run_setup(root, path, AUTOGRADER_PYTHON_URL=url,
                         AUTOGRADER_PYTHON_SHA256="0" * 64)  # fmt: skip
    assert tampered.returncode == 1
    assert tampered.stderr.strip().endswith(
        "could not be installed: its SHA-256 is not the one published for it")
    assert not (root / "python").exists() and not (root / "venv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("image, python", [("Ubuntu 22.04", "3.10"), ("Ubuntu 20.04", "3.8")])
def test_an_image_with_an_older_python_gets_the_standalone_cpython(lab1_zip, tmp_path, image,
                                                                   python):  # fmt: skip
    """The whole build, offline: the pins are found satisfied in this machine's environment (as
    on an image that already holds them, through PYTHONPATH), so pip downloads nothing."""
    root = unzip_as_gradescope(lab1_zip, tmp_path / "autograder")
    url, digest = standalone_archive(tmp_path)
    site = subprocess.run([sys.executable, "-c", "import numpy, pathlib; "
                           "print(pathlib.Path(numpy.__file__).parents[1])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    done = run_setup(root, image_path(tmp_path, python), AUTOGRADER_PYTHON_URL=url,
                     AUTOGRADER_PYTHON_SHA256=digest, PYTHONPATH=site)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"the image has Python {python} (3.11 or newer is needed): installing the " \
           "standalone CPython" in done.stderr  # fmt: skip
    assert "setup.sh: ready: Python 3.11" in done.stderr
    venv_python = root / "venv" / "bin" / "python"
    config = (root / "venv" / "pyvenv.cfg").read_text()
    assert f"home = {root / 'python' / 'bin'}" in config  # built from the standalone CPython
    imported = subprocess.run(
        [str(venv_python), "-c", "import autograder.exports.gradescope_run as g; print(g.__file__)"],
        capture_output=True, text=True, env={"PYTHONPATH": site}, cwd=tmp_path,
        check=True).stdout.strip()
    assert imported == str(root / "source" / "kit" / "autograder" / "exports" / "gradescope_run.py")
