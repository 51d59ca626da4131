"""`autograder export gradescope <lab>`: a Gradescope autograder zip, `dist/<lab>-gradescope.zip`.

Gradescope unpacks the zip into `/autograder/source`, runs `setup.sh` there once when it builds
the image, and runs `run_autograder` for every submission. The zip holds:

    setup.sh            checks the base image (glibc 2.28+, x86_64: Ubuntu 20.04, 22.04, 24.04;
                        Ubuntu 18.04 stops the build with a sentence saying so), takes the
                        image's Python 3.11+ or installs a standalone CPython 3.11, then the
                        pinned dependencies, bubblewrap when the image allows it, and the kit,
                        into /autograder/venv; nothing is downloaded later
    run_autograder      grades /autograder/submission/*.ipynb (`autograder.exports.gradescope_run`)
    requirements.txt    the kit's dependency closure, pinned from constraints.txt
    gradescope.json     which lab this autograder grades
    kit/                the `autograder` and `courselib` packages (readable by the sandbox)
    course/             course_config.py (this lab only), tests/<lab>/ (hidden tests) and the
                        source notebook (the reference): setup.sh makes it readable by root alone,
                        and the sandbox never has it in view (bubblewrap binds only kit/ and the
                        Python installation), so student code cannot read it

The zip is byte-for-byte reproducible: sorted entries with fixed timestamps.
"""

from __future__ import annotations

import importlib.metadata
import json
import pprint
import runpy
from pathlib import Path

from packaging.requirements import Requirement

from autograder.authoring.student_bundle import pinned_closure, write_reproducible_zip
from autograder.core.config import CONFIG_FILE, ConfigError, Course
from autograder.core.notebook import read_notebook
from autograder.core.written import written_questions
from autograder.judging.hidden_tests import run_hidden_tests

KIT_DISTRIBUTION = "rnn-course-kit"
SETTINGS_FILE = "gradescope.json"
KIT_PACKAGE = Path(__file__).resolve().parents[1]  # the `autograder` package running now
EXECUTABLE = 0o100755  # regular files, as `unzip` restores them
READABLE = 0o100644

# Gradescope's base images (its "Base Image" setting: Ubuntu 18.04, 20.04, 22.04, the default
# since 2023, and newer): the kit needs glibc 2.28 or newer, because PyTorch's wheels are built
# for manylinux_2_28 since PyTorch 2.6 (Ubuntu 18.04 has glibc 2.27), and an x86_64 machine.
MIN_GLIBC = "2.28"
IMAGES_THAT_WORK = "Ubuntu 20.04, 22.04 (Gradescope's default) or 24.04"
IMAGES_THAT_FAIL = "Ubuntu 18.04"
UNSUPPORTED_IMAGE = (
    f"this autograder needs a base image with glibc {MIN_GLIBC} or newer (PyTorch's wheels): "
    f"choose {IMAGES_THAT_WORK} as the base image on Gradescope's Configure Autograder page; "
    f"{IMAGES_THAT_FAIL} cannot run it"
)
# The Python setup.sh installs when the image has none of 3.11 or newer (Ubuntu 20.04 has 3.8,
# 22.04 3.10): python-build-standalone's CPython, which runs on any x86_64 Linux with glibc 2.17
# or newer and needs no package archive, checked against the release's published SHA-256.
STANDALONE_PYTHON = {
    "version": "3.11.17",
    "url": "https://github.com/astral-sh/python-build-standalone/releases/download/20261021/"
           "cpython-3.11.17%2B20261021-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz",
    "sha256": "224ca8be2d28841e7a382a27c51e74f4ed0aabe249a79294684e782363165948",
}  # fmt: skip

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source when it builds the autograder image.
# Base images that work: @IMAGES_THAT_WORK@ (glibc @MIN_GLIBC@ or newer,
# x86_64); on @IMAGES_THAT_FAIL@ the build stops with one sentence saying so. An image without
# Python 3.11 or newer gets the standalone CPython @PYTHON_VERSION@ in $ROOT/python.
# AUTOGRADER_ROOT (default /autograder), AUTOGRADER_VENV (default $ROOT/venv), AUTOGRADER_PYTHON
# (an interpreter to build the venv from), AUTOGRADER_PYTHON_URL and AUTOGRADER_PYTHON_SHA256
# (the standalone CPython's archive, from a mirror) let it be tried elsewhere.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="${AUTOGRADER_VENV:-$ROOT/venv}"
PYTHON_URL="${AUTOGRADER_PYTHON_URL:-@PYTHON_URL@}"
PYTHON_SHA256="${AUTOGRADER_PYTHON_SHA256:-@PYTHON_SHA256@}"
say() { echo "setup.sh: $*" >&2; }
stop() { say "$*"; exit 1; }
at_least() { [ "$(printf '%s
%s
' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

# The image: glibc and machine first, before anything is downloaded.
GLIBC="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')" || GLIBC=""
[ -n "$GLIBC" ] || stop "@UNSUPPORTED_IMAGE@ (this image has no GNU C library)"
at_least "$GLIBC" "@MIN_GLIBC@" || stop "@UNSUPPORTED_IMAGE@ (this image has glibc $GLIBC)"
[ "$(uname -m)" = x86_64 ] || stop "@UNSUPPORTED_IMAGE@ (this image is $(uname -m), not x86_64)"

python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
python_311() {
  for candidate in ${AUTOGRADER_PYTHON:-} python3 python3.15 python3.14 python3.13 python3.12 \
                   python3.11; do
    if command -v "$candidate" >/dev/null 2>&1; then
      version="$(python_version "$candidate")" || continue
      if [ -n "$version" ] && at_least "$version" 3.11; then command -v "$candidate"; return 0; fi
    fi
  done
  return 1
}
fetch() {  # fetch URL FILE: with curl, else wget, else the image's own Python
  if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
  else python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(*sys.argv[1:])' "$1" "$2"
  fi
}
standalone_python() {
  local archive="$ROOT/python.tar.gz"
  fetch "$PYTHON_URL" "$archive" || { echo "the download failed"; return 1; }
  echo "$PYTHON_SHA256  $archive" | sha256sum -c --status - ||
    { echo "its SHA-256 is not the one published for it"; return 1; }
  rm -rf "$ROOT/python" && tar -xzf "$archive" -C "$ROOT" && rm -f "$archive" ||
    { echo "it could not be unpacked"; return 1; }
  [ -x "$ROOT/python/bin/python3" ] || { echo "it holds no bin/python3"; return 1; }
}

if ! PYTHON="$(python_311)"; then
  HAS="$(python_version python3 || true)"
  say "the image has Python ${HAS:-none} (3.11 or newer is needed): installing the standalone" \
      "CPython @PYTHON_VERSION@ into $ROOT/python"
  WHY="$(standalone_python)" || stop "this autograder needs Python 3.11 or newer; the image" \
    "has ${HAS:-none} and the standalone CPython from $PYTHON_URL could not be installed: $WHY"
  PYTHON="$ROOT/python/bin/python3"
fi
if ! command -v bwrap >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 ||
    say "bubblewrap unavailable: submissions will run with resource limits only"
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# PyTorch's CPU build (Gradescope has no GPU); everything else pinned from PyPI.
TORCH="$(grep -i '^torch==' "$SOURCE/requirements.txt")"
"${PIP[@]}" --index-url https://download.pytorch.org/whl/cpu "$TORCH"
"${PIP[@]}" -r "$SOURCE/requirements.txt"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$SOURCE/kit" > "$SITE/autograder_kit.pth"

# The kit is for everyone (the sandbox imports it); the hidden tests and reference are root's.
chmod -R a+rX "$SOURCE/kit"
chmod -R go-rwx "$SOURCE/course"
"$VENV/bin/python" -c 'import autograder.exports.gradescope_run, courselib, torch'
say "ready: $("$VENV/bin/python" --version) (glibc $GLIBC), kit in $SOURCE/kit"
"""


def setup_script() -> str:
    """setup.sh, with the images, the glibc floor and the standalone CPython filled in."""
    values = {"IMAGES_THAT_WORK": IMAGES_THAT_WORK, "IMAGES_THAT_FAIL": IMAGES_THAT_FAIL,
              "MIN_GLIBC": MIN_GLIBC, "UNSUPPORTED_IMAGE": UNSUPPORTED_IMAGE,
              "PYTHON_VERSION": STANDALONE_PYTHON["version"],
              "PYTHON_URL": STANDALONE_PYTHON["url"], "PYTHON_SHA256": STANDALONE_PYTHON["sha256"]}
    script = SETUP_SH
    for key, value in values.items():
        script = script.replace(f"@{key}@", value)
    return script


RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission/*.ipynb into
# /autograder/results/results.json. AUTOGRADER_ROOT and AUTOGRADER_PYTHON as in setup.sh.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
"$PYTHON" -m autograder.exports.gradescope_run --root "$ROOT" && exit 0
# Python itself did not start: Gradescope still gets a valid result that says so.
mkdir -p "$ROOT/results"
if [ ! -s "$ROOT/results/results.json" ]; then
  REASON="The autograder could not start (its Python environment is broken); this is not"
  REASON="$REASON your fault, course staff will rebuild it."
  printf '{"score": 0, "execution_time": 0, "output": "%s", "tests": []}\n' "$REASON" \
    > "$ROOT/results/results.json"
fi
"""


def kit_requirements(constraints: Path) -> str:
    """The kit's runtime dependency closure, each pinned as in the constraints file."""
    roots = []
    for text in importlib.metadata.requires(KIT_DISTRIBUTION) or []:
        requirement = Requirement(text)
        if requirement.marker is None:  # the dev extras stay out
            roots.append(requirement.name)
    lines = pinned_closure(constraints, tuple(roots))
    return "# The autograder's dependencies, pinned (setup.sh installs them)\n" \
        + "\n".join(lines) + "\n"


def lab_only_config(course: Course, lab_id: str) -> str:
    """course_config.py with this lab alone (no other lab's files need to travel) and no
    extensions (on Gradescope, lateness is Gradescope's)."""
    data = runpy.run_path(str(course.root / CONFIG_FILE))["COURSE"]
    data["labs"] = [lab for lab in data["labs"] if lab.get("id") == lab_id]
    data.pop("extensions", None)
    return (f'"""The course configuration for the Gradescope autograder of {lab_id}, '
            f'generated from {CONFIG_FILE}."""\n\nCOURSE = {pprint.pformat(data, width=99)}\n')


def _python_files(package: Path, prefix: str) -> dict[str, Path]:
    return {f"{prefix}/{path.relative_to(package).as_posix()}": path
            for path in sorted(package.rglob("*.py")) if "__pycache__" not in path.parts}


def _course_files(course: Course, lab_id: str) -> dict[str, Path]:
    tests = course.tests_dir(lab_id)
    files = {f"course/tests/{lab_id}/{path.relative_to(tests).as_posix()}": path
             for path in sorted(tests.rglob("*"))
             if path.is_file() and "__pycache__" not in path.parts}  # fmt: skip
    conftest = course.root / "tests" / "conftest.py"
    if conftest.is_file():
        files["course/tests/conftest.py"] = conftest
    notebook = course.lab(lab_id).notebook
    files[f"course/{notebook.relative_to(course.root).as_posix()}"] = notebook
    return files


def check_visibility_questions(course: Course, lab_id: str) -> None:
    """Refuse per-question visibilities that name no question of the lab's hidden tests or
    written questions."""
    lab = course.lab(lab_id)
    if not lab.gradescope_question_visibility:
        return
    questions = {record.question for record in run_hidden_tests(course, lab_id, collect_only=True)}
    questions |= {question.name for question in written_questions(read_notebook(lab.notebook))}
    for name in lab.gradescope_question_visibility:
        if name not in questions:
            raise ConfigError(f"{CONFIG_FILE}: {lab.config_key}.gradescope.questions: {name!r} is "
                              f"not a question of tests/{lab_id} or a written question "
                              f"({', '.join(sorted(questions))})")  # fmt: skip


def build_gradescope_zip(course: Course, lab_id: str, out_dir: Path) -> Path:
    """Write `<out_dir>/<lab>-gradescope.zip` and return its path."""
    course.lab(lab_id)
    check_visibility_questions(course, lab_id)
    texts: dict[str, tuple[str, int]] = {
        "setup.sh": (setup_script(), EXECUTABLE),
        "run_autograder": (RUN_AUTOGRADER, EXECUTABLE),
        "requirements.txt": (kit_requirements(course.root / "constraints.txt"), READABLE),
        SETTINGS_FILE: (json.dumps({"lab": lab_id}, indent=1) + "\n", READABLE),
        f"course/{CONFIG_FILE}": (lab_only_config(course, lab_id), READABLE),
    }
    files = {
        **_python_files(KIT_PACKAGE, "kit/autograder"),
        **_python_files(course.root / "courselib", "kit/courselib"),
        **_course_files(course, lab_id),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{lab_id}-gradescope.zip"
    entries = {name: (text.encode(), mode) for name, (text, mode) in texts.items()}
    entries |= {name: (path.read_bytes(), READABLE) for name, path in files.items()}
    write_reproducible_zip(target, {name: entries[name] for name in sorted(entries)})
    return target
