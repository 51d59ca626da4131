"""Canvas and Moodle "download all submissions" zips, and zips made on macOS, built here exactly as
each platform names and lays out its files, then taken by the intake; and the one rule that picks
a student's notebook, which Gradescope's run_autograder shares."""

from __future__ import annotations

import csv
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from course_files import tiny_notebook

from autograder.cli import main
from autograder.core.config import load_course
from autograder.intake import Intake, gather
from autograder.intake.notebook_choice import (
    Candidate,
    choose_notebook,
    is_ignored,
    lab_graded_names,
    notebook_files,
)
from autograder.intake.roster import load_roster

LAB = "tiny"
NOTEBOOK = nbformat.writes(tiny_notebook())
SCRATCH = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]))
CANVAS_UNSAFE = r'[\x00/\\:*?"<>|]+'  # content_zipper.rb's sanitize_attachment_filename
APPLEDOUBLE = "\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "  # the AppleDouble header


def write_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def by_student(intake: Intake) -> dict:
    return {sub.student: sub for sub in intake.submissions}


def take(inputs: list[Path], tmp_path: Path, course_dir: Path | None = None,
         roster: Path | None = None) -> Intake:  # fmt: skip
    lab = load_course(course_dir).lab(LAB) if course_dir else None
    return gather(inputs, LAB, UTC, tmp_path / "scratch",
                  load_roster(roster) if roster else None, lab=lab)  # fmt: skip


def macos_zip(files: dict[str, str]) -> dict[str, str]:
    """What macOS's Archive Utility ("Compress") adds beside every file: `__MACOSX/` holding an
    AppleDouble `._<name>` for each, with the same path."""
    extra = {}
    for name in files:
        folder, _, base = name.rpartition("/")
        extra[f"__MACOSX/{folder + '/' if folder else ''}._{base}"] = APPLEDOUBLE
    return {**files, **extra}


# --------------------------------------------------------------------------- Canvas


def canvas_name(sortable_name: str | None, user_id: int | None, attachment_id: int,
                display_name: str, late: bool = False,
                anonymous_id: str | None = None) -> str:  # fmt: skip
    """A file name as Canvas's `lib/content_zipper.rb` writes it: `get_user_name` lower-cases the
    sortable name after `sanitize_user_name` (`_<digits>_` collapsed), `get_filename` joins
    [name, "LATE", id] with `_` (id: the user id, or `anon_<anonymous id>` with anonymous
    grading, when the name is left out) and `sanitize_file_name` keeps word characters only;
    `add_upload_submission` appends `_<attachment id>_<display name>`, the display name with
    `/\\:*?"<>|` replaced by `_`."""
    users_name = None
    if anonymous_id is None:
        users_name = re.sub(r"_(\d+)_", r"\1", sortable_name or "").lower()
    who = f"anon_{anonymous_id}" if anonymous_id is not None else str(user_id)
    filename = "_".join(part for part in (users_name, "LATE" if late else None, who) if part)
    filename = re.sub(r"[^\w]", "", filename)
    display = re.sub(CANVAS_UNSAFE, "_", display_name)
    return f"{filename}_{attachment_id}_{display}"


def test_canvas_names_are_built_as_canvas_builds_them():
    assert canvas_name("Smith, John", 1004, 50004, "lab01.ipynb") == "smithjohn_1004_50004_lab01.ipynb"
    assert canvas_name("test_student, pat", 1006, 50006, "tiny.ipynb", late=True) == \
        "test_studentpat_LATE_1006_50006_tiny.ipynb"
    assert canvas_name(None, None, 50010, "my: lab?.ipynb", anonymous_id="Ab3dE") == \
        "anon_Ab3dE_50010_my_ lab_.ipynb"
    assert canvas_name(None, None, 50011, "tiny.ipynb", late=True, anonymous_id="Zx9Qr") == \
        "LATE_anon_Zx9Qr_50011_tiny.ipynb"


def test_canvas_two_file_attempt_is_resolved_by_the_display_name(tmp_path):
    """The display name `tiny.ipynb` is the lab's; the prefixed file name never is."""
    download = write_zip(tmp_path / "submissions.zip", {
        canvas_name("Smith, John", 1004, 50004, f"{LAB}.ipynb"): NOTEBOOK,
        canvas_name("Smith, John", 1004, 50005, "scratch.ipynb"): SCRATCH,
    })
    intake = take([download], tmp_path)
    found = by_student(intake)
    assert list(found) == ["smithjohn_1004"] and intake.refused == []
    assert found["smithjohn_1004"].path.name == "smithjohn_1004_50004_tiny.ipynb"
    assert intake.notes == ["smithjohn_1004: graded smithjohn_1004_50004_tiny.ipynb, the notebook "
                            "named after the lab, of smithjohn_1004_50004_tiny.ipynb, "
                            f"smithjohn_1004_50005_scratch.ipynb in {download}"]


def test_canvas_sortable_names_with_underscores_are_read_from_the_right(tmp_path):
    download = write_zip(tmp_path / "submissions.zip", {
        canvas_name("test_student, pat", 1006, 50006, f"{LAB}.ipynb", late=True): NOTEBOOK,
        canvas_name("O'Neil_Smith, Mary Ann", 1007, 50007, "lab_2_3.ipynb"): NOTEBOOK,
    })
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name,lms_id\npat,\"test_student, pat\",1006\n"
                      "mary,\"O'Neil_Smith, Mary Ann\",1007\n")
    intake = take([download], tmp_path, roster=roster)
    found = by_student(intake)
    assert sorted(found) == ["mary", "pat"]
    assert dict(found["pat"].names) == {"lms_id": "1006", "name": "test_studentpat"}
    assert dict(found["mary"].names)["lms_id"] == "1007"
    assert intake.without_submission == [] and intake.not_on_roster == []


def test_canvas_late_marker_is_a_time_source_with_the_due_date(tiny_course, tmp_path):
    due = load_course(tiny_course).lab(LAB).due
    download = write_zip(tmp_path / "submissions.zip", {
        canvas_name("Lima, Ana", 48213, 7730001, f"{LAB}.ipynb"): NOTEBOOK,
        canvas_name("Santos, Bruno", 48214, 7730002, f"{LAB}.ipynb", late=True): NOTEBOOK,
    })
    found = by_student(take([download], tmp_path, course_dir=tiny_course))
    assert found["limaana_48213"].submitted_at == due
    assert found["limaana_48213"].time_note == \
        "Canvas: not marked LATE, so on time (counted at the due date)"
    assert found["santosbruno_48214"].submitted_at is None
    assert "LATE" in found["santosbruno_48214"].time_note and \
        "does not say how late" in found["santosbruno_48214"].time_note
    # without the course's due date nothing stands for the time
    plain = by_student(take([download], tmp_path))
    assert plain["limaana_48213"].submitted_at is None


def test_canvas_anonymous_downloads_are_one_student_per_anonymous_id(tmp_path):
    download = write_zip(tmp_path / "submissions.zip", {
        canvas_name(None, None, 50010, f"{LAB}.ipynb", anonymous_id="Ab3dE"): NOTEBOOK,
        canvas_name(None, None, 50012, "notes.ipynb", anonymous_id="Ab3dE"): SCRATCH,
        canvas_name(None, None, 50011, f"{LAB}.ipynb", late=True, anonymous_id="Zx9Qr"): NOTEBOOK,
        canvas_name(None, None, 50013, f"{LAB}.ipynb", anonymous_id="12345"): NOTEBOOK,
    })
    intake = take([download], tmp_path)
    found = by_student(intake)
    assert sorted(found) == ["anon_12345", "anon_Ab3dE", "anon_Zx9Qr"]
    assert found["anon_Ab3dE"].path.name == "anon_Ab3dE_50010_tiny.ipynb"
    assert found["anon_Ab3dE"].names == (("anon_id", "Ab3dE"),)
    assert "LATE" in found["anon_Zx9Qr"].time_note
    assert intake.refused == []


def test_a_canvas_download_zipped_again_on_macos(tmp_path):
    files = macos_zip({canvas_name("Lima, Ana", 48213, 7730001, f"{LAB}.ipynb"): NOTEBOOK,
                       canvas_name("Lima, Ana", 48213, 7730003, f"{LAB}-1.ipynb"): NOTEBOOK})
    intake = take([write_zip(tmp_path / "submissions.zip", files)], tmp_path)
    assert by_student(intake)["limaana_48213"].path.name == "limaana_48213_7730003_tiny-1.ipynb"
    assert intake.refused == [] and "latest upload" in intake.notes[0]


# --------------------------------------------------------------------------- Moodle


def moodle_prefix(full_name: str, participant_id: int, blind: bool = False) -> str:
    """`mod/assign/classes/downloader.php`, `get_student_prefix`: the full name (`Participant`
    with blind marking) with `_` replaced by spaces, then `_<participant id>`."""
    name = "Participant" if blind else full_name
    return f"{name.replace('_', ' ')}_{participant_id}"


def moodle_current(prefix: str, filename: str, filepath: str = "/") -> str:
    """Moodle 4.1 on, "download submissions in folders" (the default):
    `<prefix>_assignsubmission_file` + the file's path + its name."""
    return f"{prefix}_assignsubmission_file{filepath}{filename}"


def moodle_older(prefix: str, filename: str) -> str:
    """Moodle before 4.1 (`mod/assign/locallib.php`, `download_submissions`): the folder name
    ended with `_`."""
    return f"{prefix}_assignsubmission_file_/{filename}"


def moodle_flat(prefix: str, filename: str) -> str:
    """Moodle 4.1 on with "download submissions in folders" off (`downloader.php`,
    `load_submissionplugin_filelist`): `clean_filename($prefix . '_' . $subtype . '_' . $type .
    '_' . $zipfilename)`."""
    return f"{prefix}_assignsubmission_file_{filename}"


def test_moodle_current_older_and_flat_downloads(tmp_path):
    download = write_zip(tmp_path / "moodle.zip", {
        moodle_current(moodle_prefix("Ana Lima", 301), f"{LAB}.ipynb"): NOTEBOOK,
        moodle_current(moodle_prefix("Ana Lima", 301), "scratch.ipynb", "/drafts/"): SCRATCH,
        moodle_older(moodle_prefix("José Núñez", 302), f"{LAB}-1.ipynb"): NOTEBOOK,
        moodle_older(moodle_prefix("José Núñez", 302), f"{LAB}-2.ipynb"): NOTEBOOK,
        moodle_flat(moodle_prefix("Bruno Santos", 303), f"{LAB}.ipynb"): NOTEBOOK,
        f"{moodle_prefix('Bruno Santos', 303)}_assignsubmission_onlinetext/onlinetext.html": "<p/>",
        moodle_current(moodle_prefix("Mary_Ann Lee", 304), "work.ipynb"): NOTEBOOK,
        moodle_current(moodle_prefix("Anyone", 305, blind=True), f"{LAB}.ipynb"): NOTEBOOK,
    })
    intake = take([download], tmp_path)
    found = by_student(intake)
    assert sorted(found) == ["ana-lima_301", "bruno-santos_303", "josé-núñez_302",
                             "mary-ann-lee_304", "participant_305"]  # fmt: skip
    assert found["ana-lima_301"].path.name == f"{LAB}.ipynb"
    assert found["josé-núñez_302"].path.name == f"{LAB}-2.ipynb"
    assert found["ana-lima_301"].names == (("participant_id", "301"), ("name", "Ana Lima"))
    assert found["participant_305"].names == (("participant_id", "305"),)
    assert intake.refused == []
    assert all(sub.submitted_at is None and "Moodle" in sub.time_note for sub in found.values())


def test_moodle_students_with_one_name_are_mapped_by_participant_id(tmp_path):
    download = write_zip(tmp_path / "moodle.zip", {
        moodle_current(moodle_prefix("Eva Rossi", 401), f"{LAB}.ipynb"): NOTEBOOK,
        moodle_current(moodle_prefix("Eva Rossi", 402), f"{LAB}.ipynb"): NOTEBOOK,
        moodle_current(moodle_prefix("Zed Unknown", 409), f"{LAB}.ipynb"): NOTEBOOK,
    })
    roster = tmp_path / "roster.csv"
    # the grading worksheet's Identifier ("Participant 401") or the bare number
    roster.write_text("student,name,email,participant_id\n"
                      "eva1,Eva Rossi,eva1@uni.example,Participant 401\n"
                      "eva2,Eva Rossi,eva2@uni.example,402\n"
                      "zed,Zed Unknown,zed@uni.example,410\n")
    intake = take([download], tmp_path, roster=roster)
    found = by_student(intake)
    assert found["eva1"].path.parent.name.endswith("_401_assignsubmission_file")
    assert found["eva2"].path.parent.name.endswith("_402_assignsubmission_file")
    # 409 is not zed's participant id: never matched by the name when the roster has ids
    assert found["zed-unknown_409"].on_roster is False
    assert intake.not_on_roster == ["zed-unknown_409 (participant_id '409' is not on the roster)"]
    assert intake.without_submission == ["zed"]

    # a roster without participant ids: the names are all there is, and two Eva Rossis are
    # refused rather than guessed
    roster.write_text("student,name\neva1,Eva Rossi\neva2,Eva Rossi\nzed,Zed Unknown\n")
    intake = take([download], tmp_path, roster=roster)
    assert sorted(by_student(intake)) == ["eva-rossi_401", "eva-rossi_402", "zed"]
    assert intake.not_on_roster[0] == "eva-rossi_401 (name 'Eva Rossi' matches eva1, eva2)"


# --------------------------------------------------------------------------- the one rule


def test_macos_checkpoint_and_hidden_files_are_never_submissions(tmp_path):
    folder = tmp_path / "submission"
    for name, text in macos_zip({"mywork.ipynb": NOTEBOOK}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    for name in (".ipynb_checkpoints/mywork-checkpoint.ipynb", ".hidden.ipynb", "._other.ipynb",
                 ".git/x.ipynb"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(NOTEBOOK)
    refused: list[str] = []
    assert notebook_files(folder, refused.append) == [folder / "mywork.ipynb"]
    assert refused == []
    assert is_ignored("__MACOSX") and is_ignored("._lab.ipynb") and not is_ignored("lab.ipynb")


def test_the_rule_prefers_the_lab_name_then_one_notebook_then_the_graded_names(tiny_course,
                                                                             tmp_path):  # fmt: skip
    graded = lab_graded_names(load_course(tiny_course).lab(LAB).notebook)
    assert graded == {"double"}

    def notebook(name: str, text: str = NOTEBOOK) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    work, scratch = notebook("my_work.ipynb"), notebook("scratch.ipynb", SCRATCH)
    chosen, note = choose_notebook([Candidate(scratch, "scratch.ipynb"),
                                    Candidate(work, "my_work.ipynb")], LAB, graded)
    assert chosen.path == work
    assert note == "graded my_work.ipynb, the notebook that defines the lab's graded names " \
                   "(1 of 1), of scratch.ipynb, my_work.ipynb"  # fmt: skip
    # the lab's name is the display name's, not the prefixed file's
    prefixed = notebook("smithjohn_1004_50004_tiny.ipynb", SCRATCH)
    chosen, note = choose_notebook([Candidate(prefixed, "tiny.ipynb"),
                                    Candidate(work, "my_work.ipynb")], LAB, graded)
    assert chosen.path == prefixed and "named after the lab" in note
    # one notebook, whatever its name: no choice, no note
    assert choose_notebook([Candidate(scratch, "scratch.ipynb")], LAB, graded) == \
        (Candidate(scratch, "scratch.ipynb"), "")
    # two that define the graded names alike: refused, naming both
    other = notebook("other.ipynb")
    chosen, note = choose_notebook([Candidate(work, "my_work.ipynb"),
                                    Candidate(other, "other.ipynb")], LAB, graded)
    assert chosen is None
    assert note == "2 notebooks and none of them is the one to grade (my_work.ipynb, " \
                   "other.ipynb): name it tiny.ipynb"  # fmt: skip
    # neither defines any: refused too; uploads of one name tie: the latest
    chosen, _ = choose_notebook([Candidate(scratch, "scratch.ipynb"),
                                 Candidate(notebook("notes.ipynb", SCRATCH), "notes.ipynb")],
                                LAB, graded)  # fmt: skip
    assert chosen is None
    second = notebook("my_work-2.ipynb")
    chosen, note = choose_notebook([Candidate(work, "my_work.ipynb"),
                                    Candidate(second, "my_work-2.ipynb")], LAB, graded)
    assert chosen.path == second and note.endswith("latest upload, of my_work.ipynb, "
                                                   "my_work-2.ipynb")


@pytest.mark.parametrize("broken", ["{ not json", "", "\x00\x01", '{"cells": "no"}'])
def test_files_that_are_no_notebooks_define_nothing(tmp_path, broken):
    bad, good = tmp_path / "bad.ipynb", tmp_path / "good.ipynb"
    bad.write_text(broken)
    good.write_text(NOTEBOOK)
    chosen, _ = choose_notebook([Candidate(bad, bad.name), Candidate(good, good.name)], LAB,
                                frozenset({"double"}))  # fmt: skip
    assert chosen.path == good


def test_the_grade_command_takes_the_due_date_from_the_course(tiny_course, tmp_path):
    """`gather(..., lab=...)` is what `grade` passes: the Canvas time and the graded names."""
    download = write_zip(tmp_path / "submissions.zip", {
        canvas_name("Lima, Ana", 48213, 7730001, "answers.ipynb"): NOTEBOOK,
        canvas_name("Lima, Ana", 48213, 7730002, "draft.ipynb"): SCRATCH,
    })
    intake = take([download], tmp_path, course_dir=tiny_course)
    ana = by_student(intake)["limaana_48213"]
    assert ana.path.name.endswith("_answers.ipynb")
    assert ana.submitted_at == datetime(2026, 10, 12, 23, 59, tzinfo=UTC)


@pytest.mark.slow
def test_a_canvas_download_graded_and_exported_gives_canvas_its_grades(tiny_course, tmp_path,
                                                                        capsys):  # fmt: skip
    """Through the CLI with the real sandbox, under the default `unknown_time: "error"`: the
    students Canvas did not mark LATE get their grade in the Canvas file; the LATE one is
    withheld until a TA says how late, and left out of the file rather than written empty."""
    download = write_zip(tmp_path / "submissions.zip", macos_zip({
        canvas_name("Lima, Ana", 48213, 7730001, f"{LAB}.ipynb"): NOTEBOOK,
        canvas_name("Lima, Ana", 48213, 7730002, "scratch.ipynb"): SCRATCH,
        canvas_name("test_student, pat", 48215, 7730004, "answers.ipynb"): NOTEBOOK,
        canvas_name("Santos, Bruno", 48214, 7730003, f"{LAB}.ipynb", late=True): NOTEBOOK,
    }))
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name,lms_id,sis_id\nana,\"Lima, Ana\",48213,s1\n"
                      "bruno,\"Santos, Bruno\",48214,s2\npat,\"test_student, pat\",48215,s3\n")
    course = ["--course", str(tiny_course)]
    assert main([*course, "grade", LAB, str(download), "--roster", str(roster),
                 "--workers", "1"]) == 0  # fmt: skip
    graded = capsys.readouterr().out
    assert "note: limaana_48213: graded limaana_48213_7730001_tiny.ipynb, the notebook named " \
           "after the lab" in graded  # fmt: skip
    assert "roster:" not in graded  # everyone is on the roster and has a submission
    out = tmp_path / "canvas.csv"
    assert main([*course, "export", "grades", LAB, "--format", "canvas", "--roster", str(roster),
                 "--out", str(out)]) == 0  # fmt: skip
    rows = list(csv.reader(out.open(newline="")))
    assert rows[2:] == [["Lima, Ana", "48213", "s1", "", "", "2"],
                        ["test_student, pat", "48215", "s3", "", "", "2"]]
    assert "withheld: submission time unknown), left out" in capsys.readouterr().out


def test_in_a_folder_named_after_the_lab_the_graded_names_decide(tiny_course, tmp_path):
    graded = lab_graded_names(load_course(tiny_course).lab(LAB).notebook)
    folder = tmp_path / LAB
    folder.mkdir()
    (folder / "answers.ipynb").write_text(NOTEBOOK)
    (folder / "scratch.ipynb").write_text(SCRATCH)
    found = [Candidate(folder / "scratch.ipynb", "scratch.ipynb"),
             Candidate(folder / "answers.ipynb", "answers.ipynb")]
    chosen, note = choose_notebook(found, LAB, graded)
    assert chosen.path.name == "answers.ipynb" and "graded names (1 of 1)" in note
    (folder / "tiny.ipynb").write_text(SCRATCH)  # the lab's own name wins over the folder's
    chosen, _ = choose_notebook([*found, Candidate(folder / "tiny.ipynb", "tiny.ipynb")], LAB,
                                graded)  # fmt: skip
    assert chosen.path.name == "tiny.ipynb"
