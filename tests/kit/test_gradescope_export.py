"""The Gradescope autograder zip: built from the real course, unpacked into a folder laid out as
Gradescope lays out /autograder, run on real notebooks, and every results.json checked against a
JSON schema of Gradescope's published results format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from course_files import REPO, course_config, tiny_notebook

from autograder.cli import main
from autograder.core.config import ConfigError, load_course
from autograder.exports.gradescope import build_gradescope_zip
from autograder.exports.gradescope_check import lay_out_as_gradescope

LAB1 = "lab01_rnn_from_scratch"
PYTHON = str(Path(sys.executable))
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
OUTPUT_FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
# Gradescope's results.json, from its autograder specification ("Output format"): either an
# overall score or per-test scores; tests carry score, max_score, status, name, output, visibility.
TEST_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"}, "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"},
        "name_format": OUTPUT_FORMAT, "number": {"type": "string"},
        "output": {"type": "string"}, "output_format": OUTPUT_FORMAT,
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": VISIBILITY, "extra_data": {"type": "object"},
    },
    "additionalProperties": False,
}
RESULTS_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"}, "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"}, "output_format": OUTPUT_FORMAT,
        "test_output_format": OUTPUT_FORMAT, "test_name_format": OUTPUT_FORMAT,
        "visibility": VISIBILITY, "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"}, "tests": {"type": "array", "items": TEST_SCHEMA},
        "leaderboard": {"type": "array"},
    },
    "additionalProperties": False,
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
}
# What this kit always writes, on top of what Gradescope allows.
KIT_TEST_SCHEMA = {"type": "object", "required": ["name", "score", "max_score", "status", "output"]}
# A written question, pending until course staff grade it: no score and no status.
KIT_PENDING_SCHEMA = {"type": "object", "required": ["name", "max_score", "output"],
                      "not": {"anyOf": [{"required": ["score"]}, {"required": ["status"]}]}}
SUBMISSION_METADATA = {
    "id": 301, "created_at": "2026-10-10T12:00:00.000000+01:00", "submission_method": "upload",
    "assignment": {"id": 25828, "title": "Lab 1", "total_points": "54.0",
                   "due_date": "2026-10-12T23:59:00.000000+01:00", "group_submission": False},
    "users": [{"email": "ana@example.edu", "id": 1234, "name": "Ana Lima", "sid": "s1001"}],
    "previous_submissions": [],
}


def unzip_as_gradescope(archive: Path, root: Path) -> Path:
    """Lay out `root` as Gradescope does: the zip in source/ (with the modes `unzip` restores),
    empty submission/ and results/, and return root."""
    return lay_out_as_gradescope(archive, root)


def run_autograder(root: Path, notebook: Path | None, name: str = f"{LAB1}.ipynb",
                   python: str = PYTHON) -> tuple[dict, float]:  # fmt: skip
    """Submit `notebook` (as `name`), run `run_autograder`, return (valid results, seconds)."""
    shutil.rmtree(root / "submission")
    shutil.rmtree(root / "results")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    if notebook is not None:
        shutil.copy(notebook, root / "submission" / name)
    (root / "submission_metadata.json").write_text(json.dumps(SUBMISSION_METADATA))
    started = time.monotonic()
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], capture_output=True, text=True, timeout=600,
        env={**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python},
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    for test in results["tests"]:
        jsonschema.validate(test, KIT_TEST_SCHEMA if "score" in test else KIT_PENDING_SCHEMA)
    return results, seconds


@pytest.fixture(scope="module")
def lab1_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gradescope_zip(load_course(REPO), LAB1, tmp_path_factory.mktemp("dist"))


@pytest.fixture
def gradescope_root(lab1_zip: Path, tmp_path: Path) -> Path:
    return unzip_as_gradescope(lab1_zip, tmp_path / "autograder")


def test_zip_holds_the_scripts_the_kit_and_the_lab_and_nothing_else(lab1_zip, tmp_path):
    names = zipfile.ZipFile(lab1_zip).namelist()
    assert {"setup.sh", "run_autograder", "requirements.txt", "gradescope.json",
            "course/course_config.py", f"course/source/{LAB1}/{LAB1}.ipynb",
            "course/tests/conftest.py", "kit/autograder/judging/judge.py",
            "kit/autograder/exports/gradescope_run.py", "kit/courselib/__init__.py"} <= set(names)
    assert {name.split("/")[0] for name in names} == {
        "setup.sh", "run_autograder", "requirements.txt", "gradescope.json", "course", "kit"}
    assert not [name for name in names if "solutions/" in name or "release/" in name
                or "lab02" in name or "__pycache__" in name]
    # the tests of this lab only, and the configuration of this lab only
    assert {name.split("/")[2] for name in names if name.startswith("course/tests/")} == {
        LAB1, "conftest.py"}
    root = unzip_as_gradescope(lab1_zip, tmp_path / "autograder")
    course = load_course(root / "source" / "course")
    assert list(course.labs) == [LAB1] and course.seed(LAB1) == load_course(REPO).seed(LAB1)
    for script in ("setup.sh", "run_autograder"):
        path = root / "source" / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    requirements = (root / "source" / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in requirements
    assert all("==" in line for line in requirements if not line.startswith("#"))
    # the same course gives the same bytes
    again = build_gradescope_zip(load_course(REPO), LAB1, tmp_path / "again")
    assert again.read_bytes() == lab1_zip.read_bytes()


@pytest.mark.slow
def test_run_autograder_grades_the_solution_the_blank_notebook_and_a_broken_file(
        gradescope_root, capsys):  # fmt: skip
    solution = REPO / "solutions" / LAB1 / f"{LAB1}.ipynb"
    results, seconds = run_autograder(gradescope_root, solution)
    with capsys.disabled():
        print(f"\nrun_autograder, Lab 1 solution: {seconds:.1f} s")
    assert results["score"] == 50  # the tests' points; the written questions wait for a TA
    tested = [test for test in results["tests"] if "score" in test]
    assert all(test["status"] == "passed" and test["score"] == test["max_score"]
               for test in tested)  # fmt: skip
    assert sum(test["max_score"] for test in tested) == 50
    pending = [(test["name"], test["max_score"]) for test in results["tests"] if test not in tested]
    assert pending == [("2.6 Memory and the window length", 2),
                       ("3.5 An FTDNN or an RNN?", 2)]  # fmt: skip
    assert [test["name"] for test in results["tests"]][:2] == ["1.1 sigmoid",
                                                              "1.2 binary cross-entropy"]
    assert results["visibility"] == "visible" and results["stdout_visibility"] == "hidden"

    blank, _ = run_autograder(gradescope_root, REPO / "release" / LAB1 / f"{LAB1}.ipynb")
    assert blank["score"] == 0
    assert all(test["status"] == "failed" and test["score"] == 0 for test in blank["tests"]
               if "score" in test)  # fmt: skip
    assert "NotImplementedError" in blank["output"]  # the notebook's notes name the cells
    assert "cell " in blank["output"]
    assert "def test_" not in json.dumps(blank)  # messages, never the test code

    broken = gradescope_root / "broken.ipynb"
    broken.write_text("{ this is not a notebook")
    results, _ = run_autograder(gradescope_root, broken)
    assert results["score"] == 0 and results["tests"]
    assert "not a notebook (invalid JSON" in results["output"]

    nothing, _ = run_autograder(gradescope_root, None)
    assert nothing["score"] == 0 and "no .ipynb notebook" in nothing["output"]


@pytest.mark.slow
def test_student_code_cannot_read_the_reference_or_the_hidden_tests(gradescope_root):
    course = gradescope_root / "source" / "course"
    stealer = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"""
import glob, os
try:
    seen = open({str(course / 'source' / LAB1 / (LAB1 + '.ipynb'))!r}).read()[:40]
except OSError as error:
    seen = type(error).__name__
listed = len([p for p in glob.glob({str(course)!r} + '/**', recursive=True) if os.path.isfile(p)])

def sigmoid(x):
    raise ValueError(f"LEAK[{{seen}}] files={{listed}}")
""")])
    path = gradescope_root / "stealer.ipynb"
    nbformat.write(stealer, path)
    results, _ = run_autograder(gradescope_root, path)
    sigmoid = next(test for test in results["tests"] if test["name"] == "1.1 sigmoid")
    assert "LEAK[FileNotFoundError] files=0" in sigmoid["output"] or \
        "LEAK[PermissionError] files=0" in sigmoid["output"], sigmoid["output"]
    assert results["score"] == 0
    assert (course.stat().st_mode & 0o077) == 0  # root's alone


def test_a_grader_that_fails_still_writes_a_valid_result(gradescope_root):
    (gradescope_root / "source" / "course" / "course_config.py").write_text("COURSE = {")
    results, _ = run_autograder(gradescope_root, REPO / "release" / LAB1 / f"{LAB1}.ipynb")
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("The autograder itself failed, not your code")
    assert "course_config.py: cannot be loaded" in results["output"]
    assert "\n" not in results["output"]

    # a Python environment that is not there: the shell script alone still answers
    results, _ = run_autograder(gradescope_root, None, python="/nonexistent/python")
    assert results["score"] == 0 and "could not start" in results["output"]


@pytest.mark.slow
def test_visibility_is_set_per_lab_and_per_question(tiny_course, tmp_path):
    config = tiny_course / "course_config.py"
    config.write_text(config.read_text().replace(
        '"points": 2}', '"points": 2, "gradescope": {"visibility": "after_published", '
        '"questions": {"doubling": "hidden"}}}'))
    archive = build_gradescope_zip(load_course(tiny_course), "tiny", tmp_path / "dist")
    root = unzip_as_gradescope(archive, tmp_path / "autograder")
    solution = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_notebook(), solution)
    results, _ = run_autograder(root, solution, name="tiny.ipynb")
    assert results["score"] == 2 and results["visibility"] == "after_published"
    assert [(t["name"], t["visibility"]) for t in results["tests"]] == [("doubling", "hidden")]

    config.write_text(config.read_text().replace('"doubling": "hidden"', '"dubling": "hidden"'))
    with pytest.raises(ConfigError, match=r"gradescope.questions: 'dubling' is not a question"):
        build_gradescope_zip(load_course(tiny_course), "tiny", tmp_path / "dist")
    config.write_text(course_config().replace(
        '"points": 2}', '"points": 2, "gradescope": {"visibility": "later"}}'))
    with pytest.raises(ConfigError, match=r"labs\[0\]\.gradescope\.visibility: must be one of"):
        load_course(tiny_course)


@pytest.mark.slow
def test_setup_sh_installs_the_kit_into_a_fresh_virtual_environment(gradescope_root, tmp_path):
    """setup.sh in a fresh venv, offline: the pinned dependencies come from this machine's
    environment (as from an image that already holds them), so pip must find every pin
    satisfied and download nothing; the kit must then import from the zip's own copy."""
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
    fresh = str(venv / "bin" / "python")
    site = subprocess.run([fresh, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    here = subprocess.run([PYTHON, "-c", "import numpy, pathlib; print(pathlib.Path(numpy.__file__).parents[1])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "dependencies_of_the_image.pth").write_text(f"import sys; sys.path.insert(0, {here!r})\n")
    done = subprocess.run(
        ["bash", str(gradescope_root / "source" / "setup.sh")], capture_output=True, text=True,
        cwd=gradescope_root / "source", timeout=600,
        env={**os.environ, "AUTOGRADER_ROOT": str(gradescope_root), "AUTOGRADER_VENV": str(venv),
             "AUTOGRADER_PYTHON": PYTHON, "PIP_NO_INDEX": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "setup.sh: ready" in done.stderr
    imported = subprocess.run(
        [fresh, "-I", "-c", "import autograder.exports.gradescope_run as g, courselib; "
         "print(g.__file__); print(courselib.__file__)"],
        capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    kit = gradescope_root / "source" / "kit"
    assert imported == [str(kit / "autograder" / "exports" / "gradescope_run.py"),
                        str(kit / "courselib" / "__init__.py")]
    assert (gradescope_root / "source" / "course").stat().st_mode & 0o077 == 0
    assert (kit / "autograder" / "judging" / "judge.py").stat().st_mode & 0o004


@pytest.mark.slow
def test_a_zip_made_on_macos_is_graded_and_the_result_says_what_ran(tiny_course, tmp_path):
    """The student zipped their folder with macOS's Archive Utility: `__MACOSX/._*` AppleDouble
    files beside each file, and Jupyter's checkpoints inside. Gradescope unpacks it into
    /autograder/submission."""
    archive = build_gradescope_zip(load_course(tiny_course), "tiny", tmp_path / "dist")
    root = unzip_as_gradescope(archive, tmp_path / "autograder")
    solution = nbformat.writes(tiny_notebook())
    for name, text in {"work/mywork.ipynb": solution,
                       "__MACOSX/work/._mywork.ipynb": "\x00\x05\x16\x07 Mac OS X",
                       "work/.ipynb_checkpoints/mywork-checkpoint.ipynb": "{}",
                       "work/._notes.ipynb": "\x00\x05\x16\x07"}.items():  # fmt: skip
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text)
    done = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True,
                          text=True, timeout=600, cwd=root,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root),
                               "AUTOGRADER_PYTHON": PYTHON})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert results["score"] == 2
    sandbox = results["extra_data"]["sandbox"]
    assert sandbox in ("bwrap", "limits only")
    assert results["extra_data"]["notebook"] == "work/mywork.ipynb"
    mode = "bubblewrap" if sandbox == "bwrap" else "resource limits only"
    assert f"Graded work/mywork.ipynb; sandbox: {mode}" in results["output"]
    # Gradescope keeps stdout for instructors (results/stdout): which file, and which isolation
    assert "run_autograder: grading work/mywork.ipynb" in done.stdout
    assert f"run_autograder: sandbox {sandbox}; score 2" in done.stdout


@pytest.mark.slow
def test_export_runs_the_zip_on_the_solution_and_refuses_a_lab_over_its_memory(tiny_course,
                                                                               capsys):  # fmt: skip
    config = tiny_course / "course_config.py"
    out = tiny_course / "dist"
    code = main(["--course", str(tiny_course), "export", "gradescope", "tiny", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    checked = re.search(r"checked: run_autograder graded the solution 2/2 in \d+ s \(\d+ s of "
                        r"CPU\), peak memory (\d+) MB, sandbox (bwrap|limits only)", printed)
    assert checked, printed
    peak = int(checked[1])
    assert 50 < peak < 768 / 1.25  # a small lab fits Gradescope's default
    assert "on Gradescope: fits its default 768 MB" in printed

    # set to less than the lab needs: refused with the figure and the setting to raise
    config.write_text(config.read_text().replace('"points": 2}',
                                                 '"points": 2, "gradescope": {"memory_mb": 256}}'))
    code = main(["--course", str(tiny_course), "export", "gradescope", "tiny", "--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and not (out / "tiny-gradescope.zip").exists()
    assert re.fullmatch(r"autograder: error: tiny: run_autograder peaked at \d+ MB grading the "
                        r"solution here, too close to or over the 256 MB the lab is set to: "
                        r"raise the assignment's memory on Gradescope \(Settings > Autograder "
                        r"Settings\) to \d+ MB or more, and set labs\[0\]\.gradescope\."
                        r"memory_mb = \d+ in course_config\.py", error), error
    # raised: the export says which setting Gradescope needs
    config.write_text(config.read_text().replace('"memory_mb": 256', '"memory_mb": 1536'))
    code = main(["--course", str(tiny_course), "export", "gradescope", "tiny", "--out", str(out)])
    assert code == 0
    assert "on Gradescope: set the assignment's memory (Settings > Autograder Settings) to " \
           "1536 MB, as labs[0].gradescope.memory_mb says" in capsys.readouterr().out  # fmt: skip


@pytest.mark.slow
def test_export_refuses_a_zip_that_does_not_grade_the_solution(tiny_course, capsys):
    """A hidden test the solution fails (here: one that expects the wrong answer) makes a zip
    that would give students wrong grades: refused, not written."""
    test = tiny_course / "tests" / "tiny" / "test_tiny.py"
    test.write_text(test.read_text().replace("ref.double(x)", "3 * x"))
    code = main(["--course", str(tiny_course), "export", "gradescope", "tiny",
                 "--out", str(tiny_course / "dist")])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2 and "tiny: the autograder graded the solution 0/2 here, not full marks" in error
    assert not (tiny_course / "dist" / "tiny-gradescope.zip").exists()
