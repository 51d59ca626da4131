"""How big and how slow the student install is: the figures the released README states.

    .venv/bin/python benchmarks/student_install.py [--lab lab01_rnn_from_scratch]

Downloads what release/<lab>/requirements*.txt pin (from the configured index; PyTorch's CPU index
is used when reachable, else the index's own CPU build of torch), installs it into a fresh virtual
environment from the downloaded files, and prints the download size, the installed size and the
install time. The download time depends on the student's connection and is not measured.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="lab01_rnn_from_scratch")
    args = parser.parse_args()
    release = ROOT / "release" / args.lab
    with tempfile.TemporaryDirectory(prefix="student-install-") as scratch:
        scratch = Path(scratch)
        requirements = []
        for name in ("requirements.txt", "requirements-jupyter.txt"):
            lines = [line for line in (release / name).read_text().splitlines()
                     if line and not line.startswith(("#", "--", "./"))]  # fmt: skip
            (scratch / name).write_text("\n".join(lines) + "\n")
            requirements += ["-r", str(scratch / name)]
        venv = scratch / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "download", "-d", str(scratch / "wheels"), *requirements], check=True)
        started = time.perf_counter()
        subprocess.run([*pip, "install", "--no-index", "--find-links", str(scratch / "wheels"),
                        *requirements, str(next(release.glob("courselib-*.whl")))], check=True)
        seconds = time.perf_counter() - started
        site = next((venv / "lib").glob("python3*/site-packages"))
        print(f"{args.lab}: download {folder_mb(scratch / 'wheels'):.0f} MB, installed "
              f"{folder_mb(site):.0f} MB, install from the downloaded files {seconds:.0f} s")


if __name__ == "__main__":
    main()
