"""The sandbox binds what the interpreter really reads: a virtual environment made from a Python
home reached through a symlink (pyenv, conda and shared installs do this), with the kit's packages
added by a .pth file as an editable install of another checkout adds them, grades a notebook; and
AUTOGRADER_SANDBOX_DEBUG=1 turns a failed start into bwrap's own error plus its command line."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from course_files import tiny_notebook

from autograder.sandbox import bwrap_works

pytestmark = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap does not work here")


def symlinked_venv(tmp_path: Path) -> Path:
    """A venv whose `home` is a symlink to this Python, seeing the kit through a .pth file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    home_link = tmp_path / "python-home"
    home_link.symlink_to(Path(sys.base_prefix).resolve())
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    venv = tmp_path / "venv-real"
    subprocess.run([str(home_link / "bin" / version), "-m", "venv", "--without-pip", str(venv)],
                   check=True)  # fmt: skip
    kit_site = sysconfig.get_paths()["purelib"]
    pth = venv / "lib" / version / "site-packages" / "kit.pth"
    pth.write_text(f"import site; site.addsitedir({kit_site!r})\n")
    reached = tmp_path / "venv"  # and the venv itself reached through a second symlink
    reached.symlink_to(venv)
    return reached / "bin" / "python"


def test_a_symlinked_venv_grades_a_notebook(tiny_course, tmp_path):
    python = symlinked_venv(tmp_path / "env")
    submission = tmp_path / "ann.ipynb"
    nbformat.write(tiny_notebook(), submission)
    env = {**os.environ, "AUTOGRADER_SANDBOX_DEBUG": "1"}
    done = subprocess.run(
        [str(python), "-m", "autograder.cli", "--course", str(tiny_course), "grade", "tiny",
         str(submission), "--workers", "1", "--db", f"sqlite:///{tmp_path / 'gb.sqlite'}"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    for line in done.stderr.splitlines():  # the debug switch names the server's log: tidy up
        if line.strip().startswith("its output: "):
            Path(line.split(": ", 1)[1]).unlink(missing_ok=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mean score 2.00/2 over 1 students" in done.stdout, done.stdout
    # the server ran under bwrap with the venv bound under its symlinked name
    assert f"--ro-bind {python.parent.parent} {python.parent.parent}" in done.stderr


def test_debug_shows_bwraps_error_and_command(tmp_path):
    script = (
        "import sys\n"
        "sys.executable = '/nonexistent/python'  # an interpreter bwrap cannot find\n"
        "from autograder.sandbox import Sandbox, SandboxUnavailable\n"
        "box = Sandbox(mode='bwrap')\n"
        "try:\n    box.start()\nexcept SandboxUnavailable as error:\n    print(error)\n"
        "box.close()\n"
    )
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)  # fmt: skip
    assert "set AUTOGRADER_SANDBOX_DEBUG=1 to see why" in quiet.stdout
    debug = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path,
                           env={**os.environ, "AUTOGRADER_SANDBOX_DEBUG": "1"})  # fmt: skip
    line = debug.stdout.strip()
    for log in debug.stderr.split("its output: ")[1:]:
        Path(log.split()[0]).unlink(missing_ok=True)
    assert "bwrap: Can't find source path /nonexistent/python" in line
    assert "command: bwrap --unshare-ipc" in line and "autograder.sandbox.worker" in line
