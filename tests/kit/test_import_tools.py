"""`autograder import nbgrader` and `import otter` on the assignments the two projects ship (see
import_fixtures/README.md): each imported, released with the release's own checks, and graded by
the original tool (`nbgrader autograde`, `otter run`) and by the kit, with the same per-question
scores for every submission they ship and for a solution, a blank, a wrong, a raising, a looping
and a syntax-error notebook (import_fixtures/submissions, made with build_submissions.py).

Otter has no time limit: `otter run` never finishes a looping notebook. There the kit's scores
are compared with Otter's on the same notebook with the loop replaced by an exception (what Otter
would give had it stopped the loop), and `otter run` is shown not to finish (on the tutorial's
demo: the same for every assignment, and a spinning kernel for OTTER_HANG_S each time).

The original tool and the kit grade at the same time (each is one process at a time, and the
machine has two cores); they share nothing but the read-only submissions.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).parent / "import_fixtures"
SUBMISSIONS = FIXTURES / "submissions"
VARIANTS = ("solution", "blank", "wrong", "raising", "looping", "syntax_error")
# A loop costs this much, not 30 s: the kit's limit per cell and per test, and nbgrader's. Correct
# code needs far less, also on a busy machine (nbgrader's limit and the kit's for an imported
# nbgrader lab count wall-clock time).
TIME_LIMIT_S = 5
NBGRADER_TIMEOUT_S = 5
# otter run on a looping notebook is given this long, and does not finish (one on a notebook
# that ends takes about 9 s here)
OTTER_HANG_S = 25
OTTER_HANG_SHOWN_ON = "demo"
pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
                               # nbgrader runs `alembic`, Otter `jupyter`, from the PATH
                               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


# ------------------------------------------------------------------ the kit


def kit_course(root: Path) -> Path:
    run([sys.executable, "-m", "autograder.cli", "init", str(root)], root.parent)
    return root


def kit_import(course: Path, tool: str, path: Path, *extra: str) -> str:
    done = run([sys.executable, "-m", "autograder.cli", "import", tool, str(path), *extra], course)
    assert "Warning" not in done.stderr, done.stderr  # nbformat's warnings never reach the TA raw
    return done.stdout


def short_time_limits(course: Path) -> None:
    """The same short limit per cell and per test as the original tool is given here."""
    config = course / "course_config.py"
    text = re.sub(r'"(cell_timeout_s|test_timeout_s)": \d+', rf'"\1": {TIME_LIMIT_S}',
                  config.read_text())
    config.write_text(text)


def kit_scores(course: Path, lab: str, submissions: Path) -> dict[str, dict[str, float]]:
    """Release (with the hidden-test checks), grade, report: {student: {question: points}},
    questions named as the original tool names them (the kit's "1.2 q2" is "q2")."""
    autograder = [sys.executable, "-m", "autograder.cli"]
    run([*autograder, "release", lab], course)
    run([*autograder, "grade", lab, str(submissions), "--workers", "1"], course)
    run([*autograder, "report", lab], course)
    with open(course / "reports" / lab / "grades.csv") as grades:
        rows = list(csv.DictReader(grades))
    questions = [name for name in rows[0] if re.match(r"\d+\.\d+ ", name)]
    # written questions (nbgrader's and Otter's answers graded by hand) wait for a TA: pending
    return {row["student"]: {name.split(" ", 1)[1]: float(row[name]) for name in questions
                             if row[name] != "pending"} for row in rows}


def show(name: str, tool: str, scores: dict[str, dict[str, float]]) -> None:
    """The agreed scores, one line per submission (`pytest -s` shows them)."""
    print(f"\n{name}: the same points per question from {tool} and the kit")
    for student, questions in sorted(scores.items()):
        print(f"  {student:22} " + "  ".join(f"{question} {points:g}"
                                             for question, points in questions.items()))


def rounded(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {student: {question: round(points, 4) for question, points in questions.items()}
            for student, questions in scores.items()}


# ------------------------------------------------------------------ nbgrader


def nbgrader_course(tmp: Path, name: str) -> Path:
    """An nbgrader course folder: the fixture's files, its shipped submissions and the made-here
    ones as students (`submitted/<student>/<assignment>/<notebook>.ipynb`)."""
    fixture, assignment, notebook, _, shipped = NBGRADER_ASSIGNMENTS[name]
    root = tmp / "nbgrader"
    if fixture == "nbgrader-apps":  # laid out as nbgrader's apps tests copy it
        (root / "source" / assignment).mkdir(parents=True)
        shutil.copyfile(FIXTURES / fixture / "submitted-changed.ipynb",
                        root / "source" / assignment / f"{notebook}.ipynb")
    else:  # its own submissions only: the docs course holds ps1's
        shutil.copytree(FIXTURES / fixture, root, ignore=shutil.ignore_patterns("submitted"))
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "c"\n')
    for student, path in shipped.items():  # with what nbgrader keeps beside them
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for beside in (FIXTURES / path).parent.iterdir():
            if beside.suffix != ".ipynb":
                shutil.copyfile(beside, folder / beside.name)
        shutil.copyfile(FIXTURES / path, folder / f"{notebook}.ipynb")
    for variant in VARIANTS:
        shutil.copytree(SUBMISSIONS / name / variant, root / "submitted" / variant,
                        dirs_exist_ok=True)
    return root


def nbgrader_scores(root: Path, assignment: str, notebook: str,
                    header: bool) -> dict[str, dict[str, float]]:
    """generate_assignment and autograde; {student: {grade_id: points}} of the autograder test
    cells of `notebook` (those worth points), read from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    nbgrader = str(BIN / "nbgrader")
    generate = [nbgrader, "generate_assignment", assignment, "--force"]
    run(generate + (["--IncludeHeaderFooter.header=source/header.ipynb"] if header else []), root)
    run([nbgrader, "autograde", assignment, "--force", f"--Execute.timeout={NBGRADER_TIMEOUT_S}"], root)
    cells = autograded_points(root / "source" / assignment / f"{notebook}.ipynb")
    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in gradebook.students:
            found = gradebook.find_submission_notebook(notebook, assignment, student.id)
            scores[student.id] = {grade.name: float(grade.auto_score) for grade in found.grades
                                  if grade.name in cells}  # fmt: skip
    return scores


NBGRADER_ASSIGNMENTS = {
    # name: (fixture folder, assignment, lab notebook, header notebook, shipped submissions)
    "ps1": ("nbgrader-docs", "ps1", "problem1", True,
            {"bitdiddle": "nbgrader-docs/submitted/bitdiddle/ps1/problem1.ipynb",
             "hacker": "nbgrader-docs/submitted/hacker/ps1/problem1.ipynb"}),
    "ps1_autotest": ("nbgrader-docs", "ps1_autotest", "problem1", True, {}),
    # nbgrader's apps tests: source/ps1/p1.ipynb is files/submitted-changed.ipynb, student foo
    # hands in files/submitted-unchanged.ipynb and bar files/submitted-changed.ipynb
    "p1": ("nbgrader-apps", "ps1", "p1", False,
           {"foo": "nbgrader-apps/submitted-unchanged.ipynb",
            "bar": "nbgrader-apps/submitted-changed.ipynb"}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(NBGRADER_ASSIGNMENTS))
def test_nbgrader_assignments_grade_the_same(name, tmp_path):
    _, assignment, notebook, header, _ = NBGRADER_ASSIGNMENTS[name]
    root = nbgrader_course(tmp_path, name)
    with ThreadPoolExecutor(1) as beside:
        nbgrader = beside.submit(nbgrader_scores, root, assignment, notebook, header)
        course = kit_course(tmp_path / "kit")
        said = kit_import(course, "nbgrader", root / "source" / assignment)
        short_time_limits(course)
        kit = kit_scores(course, notebook, root / "submitted")
        original = nbgrader.result()
    assert kit == original
    show(name, "nbgrader autograde", original)
    # not a vacuous agreement: the solution earns every point, the blank and the loop less
    every = autograded_points(root / "source" / assignment / f"{notebook}.ipynb")
    assert original["solution"] == every
    assert sum(original["blank"].values()) < sum(every.values())
    assert sum(original["looping"].values()) < sum(every.values())
    if name == "ps1":  # the cells graded by hand are kept (Part C a written question), problem2
        assert "sum_of_squares_application: an answer graded by hand in nbgrader" in said
        assert "course_config.py (lab problem1, 4 points)" in said  # 3 tested, 1 written
        assert "problem2.ipynb: no autograder test cells" in said
        source = nbformat.read(str(course / "source/problem1/problem1.ipynb"), as_version=4)
        assert any("pyramidal_number" in cell.source for cell in source.cells)
        release = nbformat.read(str(course / "release/problem1/problem1.ipynb"), as_version=4)
        assert not any("pyramidal_number" in cell.source for cell in release.cells)
        assert (course / "release/problem1/jupyter.png").read_bytes() == \
            (FIXTURES / "nbgrader-docs/source/ps1/jupyter.png").read_bytes()
    if name == "p1":  # `foo` prints "Success!": nbgrader passes it on every notebook
        assert original["blank"]["foo"] == 1 and "foo: the test cell reads nothing" in said


def autograded_points(notebook: Path) -> dict[str, float]:
    nb = nbformat.read(str(notebook), as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")
            and cell.cell_type == "code" and not cell.metadata["nbgrader"].get("solution")
            and float(cell.metadata["nbgrader"].get("points", 0)) > 0}


# ------------------------------------------------------------------ Otter


OTTER_ASSIGNMENTS = {
    # name: (fixture folder, master notebook, lab id, shipped submissions, student files)
    "demo": ("otter-tutorial", "demo.ipynb", "demo",
             sorted((FIXTURES / "otter-tutorial/submissions").glob("*.ipynb")), []),
    # `example` asks students for student_file.py beside the notebook: Otter gets the zip its
    # export cell makes (the notebook and the file); the kit grades the notebook alone
    "example": ("otter-test-assign", "example.ipynb", "hw01", [], ["student_file.py"]),
    "exception-example": ("otter-test-assign", "exception-example.ipynb", "exception_example",
                          [], []),
}  # fmt: skip


def otter_assignment(tmp: Path, name: str) -> tuple[Path, Path]:
    """The master run (its outputs are the expected outputs of Otter's doctests, so it is run
    in this environment first, as an instructor runs it) and assigned: (master, autograder zip)."""
    fixture, master_name, *_ = OTTER_ASSIGNMENTS[name]
    folder = tmp / "otter"
    shutil.copytree(FIXTURES / fixture, folder, ignore=shutil.ignore_patterns("submissions"))
    master = folder / master_name
    run([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace",
         str(master)], folder)  # fmt: skip
    run([str(BIN / "otter"), "assign", "--no-pdfs", str(master), str(folder / "dist")], folder)
    return master, next((folder / "dist" / "autograder").glob("*.zip"))


def otter_result(autograder_zip: Path, submission: Path, out: Path) -> dict[str, float]:
    """`otter run`: {question: points} from its results.json."""
    out.mkdir(parents=True)
    run([str(BIN / "otter"), "run", "-a", str(autograder_zip), "-o", str(out), str(submission)],
        out)  # fmt: skip
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {test["name"]: float(test["score"]) for test in tests if "score" in test}


def otter_never_finishes(autograder_zip: Path, submission: Path, out: Path) -> bool:
    """`otter run` on a looping notebook, given OTTER_HANG_S; it and its kernel are stopped."""
    import psutil

    out.mkdir(parents=True)
    process = subprocess.Popen([str(BIN / "otter"), "run", "-a", str(autograder_zip), "-o",
                                str(out), str(submission)], cwd=out, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        process.wait(timeout=OTTER_HANG_S)
        return False
    except subprocess.TimeoutExpired:
        return True
    finally:
        family = psutil.Process(process.pid).children(recursive=True) \
            if process.poll() is None else []  # fmt: skip
        for member in [*family, process]:
            try:
                os.kill(member.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()


def loop_stopped(looping: Path, folder: Path) -> Path:
    """The looping notebook with its loop replaced by an exception: what Otter would give the
    looping notebook had it a time limit (the kit's interrupted cell is an error too)."""
    nb = nbformat.read(str(looping), as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("while True:\n        pass",
                                          "raise TimeoutError('interrupted')")  # fmt: skip
    path = folder / "looping.ipynb"
    nbformat.write(nb, str(path))
    return path


def with_student_files(notebook: Path, files: list[Path], folder: Path) -> Path:
    """The zip Otter's export cell makes: the notebook and the files students hand in."""
    path = folder / f"{notebook.stem}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(notebook, notebook.name)
        for file in files:
            archive.write(file, file.name)
    return path


@pytest.mark.parametrize("name", list(OTTER_ASSIGNMENTS))
def test_otter_assignments_grade_the_same(name, tmp_path):
    from autograder.intake.student_id import student_id

    _, _, lab, shipped, student_files = OTTER_ASSIGNMENTS[name]
    master, autograder_zip = otter_assignment(tmp_path, name)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for notebook in [*shipped, *(SUBMISSIONS / name / f"{v}.ipynb" for v in VARIANTS)]:
        shutil.copyfile(notebook, submissions / notebook.name)
    given_to_otter = tmp_path / "for-otter"
    given_to_otter.mkdir()

    def otter_scores() -> dict[str, dict[str, float]]:
        given: dict[str, Path] = {}  # student -> what Otter is given
        for notebook in sorted(submissions.glob("*.ipynb")):
            graded = notebook
            if notebook.stem == "looping":
                graded = loop_stopped(notebook, given_to_otter)
            if student_files:
                graded = with_student_files(graded, [master.parent / f for f in student_files],
                                            given_to_otter)  # fmt: skip
            given[student_id(notebook.stem)] = graded
        # two `otter run`s at a time (each grades one notebook on its own, in a folder of its own)
        with ThreadPoolExecutor(2) as pool:
            hang = pool.submit(otter_never_finishes, autograder_zip,
                               submissions / "looping.ipynb", tmp_path / "hang") \
                if name == OTTER_HANG_SHOWN_ON else None  # fmt: skip
            runs = {student: pool.submit(otter_result, autograder_zip, graded,
                                         tmp_path / "results" / student)
                    for student, graded in given.items()}  # fmt: skip
            assert hang is None or hang.result()
            return {student: run.result() for student, run in runs.items()}

    with ThreadPoolExecutor(1) as beside:
        otter = beside.submit(otter_scores)
        course = kit_course(tmp_path / "kit")
        said = kit_import(course, "otter", master)
        short_time_limits(course)
        kit = kit_scores(course, lab, submissions)
        original = otter.result()
    # both reports round (Otter's 1/3 point is 0.33333, the kit's 0.333333)
    assert rounded(kit) == rounded(original)
    show(name, "otter run", rounded(original))
    # not a vacuous agreement: the solution earns every point, the blank and the loop less
    possible = sum(original["solution"].values())
    assert possible > 0 and sum(original["blank"].values()) < possible
    assert sum(original["looping"].values()) < possible
    if name == "example":
        assert "q1 test case 6: reads student_file.py" in said
        assert "q2: graded by hand in Otter (1.5 points)" in said  # q4 is a written question

