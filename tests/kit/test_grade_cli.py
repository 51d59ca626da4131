"""`autograder grade` and `report` end to end on a tiny course: layouts, a mixed batch with bad
inputs (exit status 3, everything else graded), skipping, forcing, reports and a killed grader."""

from __future__ import annotations

import csv
import gc
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from course_files import tiny_notebook

from autograder.cli import main
from autograder.core.config import load_course
from autograder.intake import IntakeError, collect
from autograder.records.gradebook import Gradebook

WRONG = "def double(x):\n    return 3 * x\n"


def write(path: Path, solution: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(tiny_notebook(solution) if solution else tiny_notebook(), str(path))
    return path


def test_intake_reads_flat_nbgrader_and_gradescope_layouts(tmp_path):
    flat = tmp_path / "flat"
    write(flat / "ann.ipynb")
    write(flat / ".ipynb_checkpoints" / "ann-checkpoint.ipynb")
    nbgrader = tmp_path / "nbgrader.zip"
    with zipfile.ZipFile(nbgrader, "w") as archive:
        archive.write(write(tmp_path / "x.ipynb"), "submitted/bob/tiny/tiny.ipynb")
        archive.writestr("submitted/bob/tiny/timestamp.txt", "2026-10-14 10:00:00.000000 UTC")
    gradescope = tmp_path / "gs"
    write(gradescope / "submission_42" / "tiny.ipynb")
    (gradescope / "submission_metadata.yml").write_text(
        "submission_42:\n  :submitters:\n  - :name: Cy Doe\n    :sid: cy01\n"
        "  :created_at: 2026-10-12 20:00:00.000000000 +01:00\n"
    )
    single = write(tmp_path / "dee.ipynb")
    found = collect([flat, nbgrader, gradescope, single], "tiny", UTC, tmp_path / "scratch")
    assert [s.student for s in found] == ["ann", "bob", "cy01", "dee"]
    times = {s.student: s.submitted_at for s in found}
    assert times["bob"] == datetime(2026, 10, 14, 10, tzinfo=UTC)
    assert times["cy01"] == datetime(2026, 10, 12, 19, tzinfo=UTC)
    assert times["ann"] is None


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing", None, "no such file or folder"),
        ("broken.zip", b"PK\x03\x04 not really", "not a readable zip file"),
        ("notes.txt", b"hello", r"not a notebook \(.ipynb\), a folder or a zip file"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IntakeError, match=message) as error:
        collect([path], "tiny", UTC, tmp_path)
    assert "\n" not in str(error.value)


def test_cli_errors_are_one_line(tiny_course, tmp_path, capsys):
    assert main(["--course", str(tiny_course), "grade", "nolab", str(tmp_path)]) == 2
    assert main(["--course", str(tiny_course), "grade", "tiny", str(tmp_path / "none")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "unknown lab 'nolab'" in errors[0] and "no such file" in errors[1]


@pytest.mark.slow
def test_grade_skip_force_and_report(tiny_course, tmp_path, capsys):
    inbox = tmp_path / "inbox"
    write(inbox / "good.ipynb")
    write(inbox / "wrong.ipynb", WRONG)
    (inbox / "garbage.ipynb").write_bytes(b"\x00\xff" * 10)
    late = tmp_path / "late" / "submitted" / "late" / "tiny"
    write(late / "tiny.ipynb")
    (late / "timestamp.txt").write_text("2026-10-14 10:00:00 UTC")
    db = f"sqlite:///{tmp_path / 'gb.sqlite'}"
    base = ["--course", str(tiny_course)]
    gc.disable()  # nothing left to the collector: the command itself closes the gradebook
    try:
        assert main([*base, "grade", "tiny", str(inbox), str(tmp_path / "late"), "--db", db,
                     "--workers", "2"]) == 0  # fmt: skip
    finally:
        gc.enable()
    out = capsys.readouterr().out
    assert "graded 4, skipped 0" in out and "not notebooks 1" in out
    copied = tmp_path / "copied.sqlite"  # the file alone, as a TA copies it, holds every grade
    shutil.copy(tmp_path / "gb.sqlite", copied)
    assert len(Gradebook.existing(load_course(tiny_course), f"sqlite:///{copied}")
               .latest_runs("tiny")) == 4  # fmt: skip
    assert main([*base, "grade", "tiny", str(inbox), "--db", db, "--workers", "1"]) == 0
    assert "graded 0, skipped 3" in capsys.readouterr().out
    assert main([*base, "grade", "tiny", str(inbox / "wrong.ipynb"), "--db", db, "--force"]) == 0
    assert "graded 1, skipped 0" in capsys.readouterr().out

    reports = tmp_path / "reports"
    assert main([*base, "report", "tiny", "--db", db, "--out", str(reports)]) == 0
    table = capsys.readouterr().out
    assert "good" in table and "4 students" in table and "-0.00" not in table
    assert any(line.startswith("late ") and " -0.40 " in line for line in table.splitlines())
    assert "3 withheld: submission time unknown" in table  # a flat folder has no times
    rows = {row["student"]: row for row in csv.DictReader((reports / "grades.csv").open())}
    assert rows["good"]["total"] == "2" and rows["good"]["final"] == ""
    assert "final grade withheld" in rows["good"]["problems"]
    config = tiny_course / "course_config.py"  # the TA decides: no regrading needed
    config.write_text(config.read_text().replace('"max_days_late": 3}',
                                                 '"max_days_late": 3, "unknown_time": "on_time"}'))
    assert main([*base, "report", "tiny", "--db", db, "--out", str(reports)]) == 0
    rows = {row["student"]: row for row in csv.DictReader((reports / "grades.csv").open())}
    assert rows["good"]["final"] == "2" and rows["wrong"]["final"] == "0"
    assert rows["late"]["total"] == "2" and rows["late"]["late_penalty"] == "0.4"
    assert rows["late"]["final"] == "1.6"
    wrong = (reports / "feedback" / "wrong.md").read_text()
    assert "double(x)" in wrong and "def test_" not in wrong and "tol.assert_close" not in wrong
    garbage = (reports / "feedback" / "garbage.html").read_text()
    assert garbage.count("not UTF-8") == 1 and "see “Your notebook” above" in garbage
    assert (reports / "scores.png").stat().st_size > 1000
    runs = Gradebook(db).latest_runs("tiny")
    assert {run.sandbox for run in runs} <= {"bwrap", "limits only"}
    record = runs[-1].results[0]
    assert record.test_id.endswith("test_double") and record.question == "doubling"
    assert record.points_possible == 2 and runs[-1].device == "cpu"


def gradescope_export(path: Path, notebook: Path) -> Path:
    """Gradescope's export zip: one top folder, a good submission, a malformed metadata entry,
    and two entries no archive may hold."""
    top = "assignment_77_export/"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{top}submission_metadata.yml",
                         "submission_1:\n  :submitters:\n  - :name: Ana Lima\n    :sid: ana\n"
                         "  :created_at: 2026-10-12 20:00:00.000000000 +01:00\n"
                         "submission_2: [not, a, submission]\n")  # fmt: skip
        archive.write(notebook, f"{top}submission_1/tiny.ipynb")
        archive.write(notebook, f"{top}submission_2/tiny.ipynb")
        archive.write(notebook, "../../evil.ipynb")
        link = zipfile.ZipInfo(f"{top}submission_1/link.ipynb")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    return path


@pytest.mark.slow
def test_a_mixed_batch_with_bad_inputs_grades_all_the_rest(tiny_course, tmp_path, capsys):
    good = write(tmp_path / "good.ipynb")
    export = gradescope_export(tmp_path / "export.zip", good)
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as archive:
        archive.write(good, "limacy_4821_77001_tiny.ipynb")
        archive.write(good, "x" * 300 + ".ipynb")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 cut short")
    inbox = tmp_path / "inbox"
    write(inbox / "bob.ipynb", WRONG)
    with zipfile.ZipFile(inbox / "mallory.ipynb", "w") as archive:  # a zip named .ipynb
        archive.writestr("submission_metadata.yml", "s:\n  :submitters:\n  - :sid: ana\n")
    roster = tmp_path / "roster.csv"
    roster.write_text("student,sis_id,lms_id\nana,ana,\nbob,,\ncy,,4821\nzoe,,\n")
    db = f"sqlite:///{tmp_path / 'gb.sqlite'}"
    code = main(["--course", str(tiny_course), "grade", "tiny", str(export), str(canvas),
                 str(broken), str(inbox), "--db", db, "--workers", "1", "--roster", str(roster)])
    out = capsys.readouterr().out.splitlines()
    assert code == 3
    refused = [line for line in out if line.startswith("refused: ")]
    assert len(refused) == 5, out
    for what in ("'../../evil.ipynb': its path escapes", "link.ipynb': a link",
                 "submission_2 is not a mapping", "broken.zip: not a readable zip",
                 "name too long"):  # fmt: skip
        assert sum(what in line for line in refused) == 1, (what, refused)
    assert "roster: 1 graded students are not on it: mallory" in out
    assert "roster: 1 students on it have no submission: zoe" in out
    assert any(line.startswith("tiny: graded 4, skipped 0") and "not notebooks 1" in line
               for line in out)  # fmt: skip
    assert "5 inputs refused (named above); everything else was graded" in out
    runs = {run.submission.student.student_id: run for run in Gradebook(db).latest_runs("tiny")}
    assert sorted(runs) == ["ana", "bob", "cy", "mallory"]
    assert runs["ana"].submission.submitted_at == datetime(2026, 10, 12, 19, tzinfo=UTC)
    assert runs["cy"].submission.student.lms_id == "4821"
    earned = {student: sum(r.points_earned for r in run.results) for student, run in runs.items()}
    assert earned == {"ana": 2, "bob": 0, "cy": 2, "mallory": 0}
    assert "not a notebook" in runs["mallory"].results[0].message


@pytest.mark.slow
def test_kill_9_loses_nothing_and_the_batch_resumes(tiny_course, tmp_path):
    inbox = tmp_path / "inbox"
    for index in range(6):
        write(inbox / f"s{index}.ipynb", None if index % 2 else WRONG)
    db_file = tmp_path / "gb.sqlite"
    command = [sys.executable, "-m", "autograder.cli", "--course", str(tiny_course), "grade",
               "tiny", str(inbox), "--db", f"sqlite:///{db_file}", "--workers", "1"]  # fmt: skip
    grader = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip

    def complete_runs() -> int:
        if not db_file.exists():
            return 0
        with sqlite3.connect(db_file) as connection:
            try:
                return connection.execute(
                    "select count(*) from grading_runs where complete").fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    deadline = time.monotonic() + 300
    while complete_runs() < 2 and time.monotonic() < deadline and grader.poll() is None:
        time.sleep(0.2)
    os.killpg(grader.pid, signal.SIGKILL)
    grader.wait()
    done = complete_runs()
    assert 2 <= done < 6
    with sqlite3.connect(db_file) as connection:
        orphans = connection.execute(
            "select count(*) from grading_runs r where not exists "
            "(select 1 from test_results t where t.run_pk = r.id)").fetchone()[0]
    assert orphans == 0
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"graded {6 - done}, skipped {done}" in resumed.stdout
    assert complete_runs() == 6


def test_without_bubblewrap_grading_says_so_and_leaves_no_scratch(tiny_course, tmp_path,
                                                                 monkeypatch, capsys):
    import tempfile

    monkeypatch.setenv("AUTOGRADER_NO_BWRAP", "1")
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("autograder-sandbox-*"))
    write(tmp_path / "inbox" / "good.ipynb")
    db = f"sqlite:///{tmp_path / 'gb.sqlite'}"
    assert main(["--course", str(tiny_course), "grade", "tiny", str(tmp_path / "inbox"),
                 "--db", db, "--workers", "1"]) == 0  # fmt: skip
    assert "limits only" in capsys.readouterr().out
    assert [run.sandbox for run in Gradebook(db).latest_runs("tiny")] == ["limits only"]
    assert set(scratch.glob("autograder-sandbox-*")) <= before
