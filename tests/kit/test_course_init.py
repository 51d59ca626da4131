"""`autograder init` and `new-lab` make courses and labs that release and grade as they come (the
real engine: Jupyter kernel, sandbox, hidden tests); a course that lacks a file gets one line
naming it; `grade` says, by its exit status and summary, when the grader itself failed; and no
process outlives the command."""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.authoring.course_init import InitError, add_lab_to_config, lab_entry
from autograder.core.config import load_course
from autograder.judging.hidden_tests import pytest_failure

REPO = Path(__file__).resolve().parents[2]
AUTOGRADER = [sys.executable, "-m", "autograder.cli"]


def autograder(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*AUTOGRADER, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})  # fmt: skip


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


@pytest.fixture(scope="module")
def new_course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("init") / "rnn-course"
    done = autograder("init", str(root), cwd=root.parent)
    assert done.returncode == 0, done.stderr
    return root


def test_init_writes_a_course_that_keeps_its_secrets_out_of_git(new_course):
    course = load_course(new_course)
    assert list(course.labs) == ["example"]
    salt = (new_course / "seed_salt.txt").read_text().strip()
    assert len(salt) == 32 and salt not in (new_course / "course_config.py").read_text()
    ignored = (new_course / ".gitignore").read_text().split()
    for private in ("/source/", "/tests/", "/solutions/", "/seed_salt.txt", "/gradebook.sqlite"):
        assert private in ignored
    assert "/release/" not in ignored  # what students get stays in the repository
    assert 'pytest_plugins = ["autograder.pytest_plugin"]' in (
        new_course / "tests" / "conftest.py").read_text()
    assert "__version__" in (new_course / "courselib" / "__init__.py").read_text()
    assert "numpy==" in (new_course / "constraints.txt").read_text()


@pytest.mark.slow
def test_the_example_lab_releases_and_grades_out_of_the_box(new_course):
    runtime = new_course.parent / "jupyter-runtime"  # the kernel's connection file lands here
    done = autograder("release", "example", cwd=new_course, env={"JUPYTER_RUNTIME_DIR": str(runtime)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 hidden tests pass on the solution, fail on stubs" in done.stdout
    # the solution's kernel ended with the command: nothing holds its connection file
    assert processes_mentioning(str(runtime)) == []
    assert "Parent appears to have exited" not in done.stderr
    submissions = new_course.parent / "submissions"
    submissions.mkdir()
    shutil.copy(new_course / "solutions" / "example" / "example.ipynb", submissions / "ann.ipynb")
    shutil.copy(new_course / "release" / "example" / "example.ipynb", submissions / "bob.ipynb")
    graded = autograder("grade", "example", str(submissions), "--workers", "1", cwd=new_course)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "graded 2" in graded.stdout and "mean score 1.00/2 over 2 students" in graded.stdout
    report = autograder("report", "example", cwd=new_course)
    scores = (new_course / "reports" / "example" / "grades.csv").read_text()
    assert report.returncode == 0 and ",2" in scores.splitlines()[1] + scores.splitlines()[2]


@pytest.mark.slow
def test_new_lab_releases_as_is_and_refuses_a_second_time(new_course):
    done = autograder("new-lab", "lab02_gates", "--title", "Gates and memory", cwd=new_course)
    assert done.returncode == 0, done.stderr
    assert load_course(new_course).lab("lab02_gates").title == "Gates and memory"
    released = autograder("release", "lab02_gates", cwd=new_course)
    assert released.returncode == 0, released.stdout + released.stderr
    again = autograder("new-lab", "lab02_gates", cwd=new_course)
    assert again.returncode == 2 and "exists already" in again.stderr
    bad = autograder("new-lab", "Lab-2", cwd=new_course)
    assert bad.returncode == 2 and "lower-case letters" in bad.stderr


def test_init_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = autograder("init", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and "is not empty" in done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "remove, command, message",
    [
        ("tests/conftest.py", "check", "tests/conftest.py: missing or not loading the kit's plugin"),
        ("courselib", "release", "courselib/__init__.py: missing"),
        ("constraints.txt", "release", "constraints.txt: missing"),
    ],
)
def test_a_missing_course_file_is_one_line_naming_it(new_course, tmp_path, remove, command, message):
    course = tmp_path / "course"
    shutil.copytree(new_course, course, ignore=shutil.ignore_patterns("release", "solutions",
                                                                      "reports", "*.sqlite"))
    target = course / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    done = autograder(command, "example", cwd=course)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_pytests_own_error_is_reported_not_its_last_line(tmp_path):
    (tmp_path / "tests" / "lab").mkdir(parents=True)
    (tmp_path / "tests" / "lab" / "test_x.py").write_text("def test_x():\n    pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "tests" / "lab"),
                           "--rootdir", str(tmp_path), "--results-json", "out.json"],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    line = pytest_failure(done.stdout + done.stderr, "lab")
    assert "unrecognized arguments: --results-json" in line
    assert 'pytest_plugins = ["autograder.pytest_plugin"]' in line
    (tmp_path / "tests" / "lab" / "test_x.py").write_text("import not_a_module_anywhere\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", str(tmp_path / "tests" / "lab"),
                           "--rootdir", str(tmp_path)], capture_output=True, text=True,
                          cwd=tmp_path)  # fmt: skip
    assert "No module named 'not_a_module_anywhere'" in pytest_failure(done.stdout, "lab")


@pytest.mark.slow
def test_grade_exits_non_zero_when_the_grader_fails(new_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(new_course, course, ignore=shutil.ignore_patterns("reports", "*.sqlite"))
    # a hidden test file that cannot be imported: the grader, not the submission, is at fault
    (course / "tests" / "example" / "test_broken.py").write_text("import not_a_module_anywhere\n")
    notebook = course / "release" / "example" / "example.ipynb"
    done = autograder("grade", "example", str(notebook), "--workers", "1", cwd=course)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "1 submissions could not be graded because of the grader" in done.stdout
    assert "No module named 'not_a_module_anywhere'" in done.stdout + done.stderr


def test_lab_entries_go_into_an_existing_config_and_keep_it(tmp_path):
    shutil.copy(REPO / "course_config.py", tmp_path / "course_config.py")
    before = (tmp_path / "course_config.py").read_text()
    ids = [lab["id"] for lab in runpy.run_path(str(tmp_path / "course_config.py"))["COURSE"]["labs"]]
    add_lab_to_config(tmp_path, lab_entry("lab99_extra", 'An "extra" lab', 10), "lab99_extra")
    after = (tmp_path / "course_config.py").read_text()
    assert after.startswith(before[: before.rindex("    ],")])  # everything before stays as it was
    labs = runpy.run_path(str(tmp_path / "course_config.py"))["COURSE"]["labs"]
    assert [lab["id"] for lab in labs] == [*ids, "lab99_extra"]
    assert labs[-1]["title"] == 'An "extra" lab' and labs[-1]["points"] == 10
    with pytest.raises(InitError, match="exists already"):
        add_lab_to_config(tmp_path, lab_entry("lab99_extra", "again", 1), "lab99_extra")
