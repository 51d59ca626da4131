"""`autograder export gradescope <lab>`: a Gradescope autograder zip, `dist/<lab>-gradescope.zip`.

Gradescope unpacks the zip into `/autograder/source`, runs `setup.sh` there once when it builds
the image, and runs `run_autograder` for every submission. The zip holds:

    setup.sh            Python 3.11+, the pinned dependencies, bubblewrap when the image allows
                        it, and the kit, into /autograder/venv; nothing is downloaded later
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

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source when it builds the autograder image.
# AUTOGRADER_ROOT (default /autograder), AUTOGRADER_VENV (default $ROOT/venv) and
# AUTOGRADER_PYTHON (the interpreter to build the venv from) let it be tried elsewhere.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="${AUTOGRADER_VENV:-$ROOT/venv}"
say() { echo "setup.sh: $*" >&2; }

python_311() {
  for candidate in ${AUTOGRADER_PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if ! PYTHON="$(python_311)"; then
  say "installing Python 3.11 (the image has an older Python)"
  apt-get update -qq && apt-get install -y -qq python3.11 python3.11-venv >/dev/null
  PYTHON="$(python_311)" || { say "Python 3.11+ is needed and could not be installed"; exit 1; }
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
say "ready: $("$VENV/bin/python" --version), kit in $SOURCE/kit"
"""

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
        "setup.sh": (SETUP_SH, EXECUTABLE),
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
