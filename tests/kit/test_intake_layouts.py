"""The intake on the layouts TAs really get, built here the way each platform lays them out:
Gradescope exports, nbgrader `submitted/` trees, Canvas and Moodle downloads, flat folders and
single notebooks; plus colliding ids, hostile archives and metadata, and the roster."""

from __future__ import annotations

import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from course_files import tiny_notebook

from autograder.intake import Intake, IntakeError, archive, collect, gather
from autograder.intake.roster import RosterError, load_roster
from autograder.intake.student_id import is_student_id, student_id

NOTEBOOK = nbformat.writes(tiny_notebook())
LAB = "tiny"


def take(inputs: list[Path], tmp_path: Path, roster=None) -> Intake:
    return gather(inputs, LAB, UTC, tmp_path / "scratch", roster)


def by_student(intake: Intake) -> dict:
    return {sub.student: sub for sub in intake.submissions}


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def write_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive_file:
        for name, text in files.items():
            archive_file.writestr(name, text)
    return path


# Gradescope's "Export Submissions": Ruby-symbol keys, nanosecond times with an offset, one
# entry per submission, earlier submissions of a student kept with `:active: false`.
GRADESCOPE_METADATA = """\
submission_301:
  :submitters:
  - :name: Ana Lima
    :sid: '2026001'
    :email: ana.lima@uni.example
  :created_at: 2026-10-12 20:00:00.000000000 +01:00
  :score: 40.0
  :status: processed
  :active: false
  :history: []
submission_302:
  :submitters:
  - :name: Bruno Santos
    :sid: '2026002'
    :email: bruno@uni.example
  - :name: Chloé Martin
    :sid: '2026003'
    :email: chloe@uni.example
  :created_at: 2026-10-13 09:30:00.000000000 +01:00
  :score: 50.0
  :status: processed
  :history: []
submission_303:
  :submitters:
  - :name: Ana Lima
    :sid: '2026001'
    :email: ana.lima@uni.example
  :created_at: 2026-10-12 21:15:00.000000000 +01:00
  :score: 50.0
  :status: processed
  :active: true
  :history:
  - :created_at: 2026-10-12 20:00:00.000000000 +01:00
    :score: 40.0
"""


def gradescope_files(top: str = "assignment_8812_export/") -> dict[str, str]:
    files = {f"{top}submission_metadata.yml": GRADESCOPE_METADATA}
    for number in (301, 302, 303):
        files[f"{top}submission_{number}/{LAB}.ipynb"] = NOTEBOOK
        files[f"{top}submission_{number}/notes.txt"] = "what I did"
    return files


def test_gradescope_export_zip_with_its_top_folder(tmp_path):
    export = write_zip(tmp_path / "assignment_8812_export.zip", gradescope_files())
    intake = take([export], tmp_path)
    found = by_student(intake)
    assert sorted(found) == ["2026001", "2026002", "2026003"]  # a group: both submitters
    ana = found["2026001"]
    assert ana.path.parent.name == "submission_303"  # the active one, not the earlier one
    assert ana.submitted_at == datetime(2026, 10, 12, 20, 15, tzinfo=UTC)
    assert ana.time_note == "Gradescope created_at"
    assert ("email", "ana.lima@uni.example") in ana.names
    assert found["2026002"].path == found["2026003"].path
    assert intake.refused == []
    assert any("2026001" in note and "submission_303" in note and "active" in note
               for note in intake.notes)


def test_gradescope_export_folder_without_top_folder_takes_the_latest(tmp_path):
    metadata = GRADESCOPE_METADATA.replace("  :active: false\n", "").replace("  :active: true\n", "")
    files = {name.removeprefix("assignment_8812_export/"): text
             for name, text in gradescope_files().items()}
    files["submission_metadata.yml"] = metadata
    intake = take([write_files(tmp_path / "export", files)], tmp_path)
    assert by_student(intake)["2026001"].path.parent.name == "submission_303"  # the latest
    assert any("the latest" in note for note in intake.notes)


def test_a_gradescope_submission_without_a_notebook_is_refused_by_name(tmp_path):
    files = gradescope_files()
    del files[f"assignment_8812_export/submission_302/{LAB}.ipynb"]
    intake = take([write_zip(tmp_path / "export.zip", files)], tmp_path)
    assert list(by_student(intake)) == ["2026001"]
    assert intake.refused == [f"{tmp_path / 'export.zip'}: submission_302: no .ipynb notebook in it"]


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize("metadata, reason", [
    ("submission_301: [1, 2]\n", "submission_301 is not a mapping (it is a list)"),
    ("- submission_301\n", "not a mapping of submissions"),
    (ALIAS_BOMB, "aliases"),
    ("a: " + "[" * 200 + "]" * 200 + "\n", "nested more than"),
    ("submission_301:\n  :submitters: Ana\n", "submitters is not a list"),
    ("submission_301:\n  :submitters:\n  - :sid: [1]\n", "sid is not text"),
    ("submission_301:\n  :submitters:\n  - :sid: '1'\n  :created_at: [2026]\n",
     "created_at is not a time"),
    ("../../etc:\n  :submitters:\n  - :sid: '1'\n", "is not a submission folder name"),
    ("submission_301: {\n", "cannot be read"),
])
def test_hostile_gradescope_metadata_refuses_only_itself(tmp_path, metadata, reason):
    files = gradescope_files()
    files["assignment_8812_export/submission_metadata.yml"] = metadata
    export = write_zip(tmp_path / "export.zip", files)
    flat = write_files(tmp_path / "flat", {"dee.ipynb": NOTEBOOK})
    started = time.perf_counter()
    intake = take([export, flat], tmp_path)
    assert time.perf_counter() - started < 5  # the alias bomb is not expanded
    assert list(by_student(intake)) == ["dee"]
    assert len(intake.refused) == 1, intake.refused
    assert intake.refused[0].startswith(str(export)) and reason in intake.refused[0]
    assert "\n" not in intake.refused[0]


def test_nbgrader_submitted_tree_reads_timestamps_with_their_zone(tmp_path):
    course = write_files(tmp_path / "course", {
        "submitted/ana/tiny/tiny.ipynb": NOTEBOOK,
        "submitted/ana/tiny/timestamp.txt": "2026-10-14 10:00:00.000000 UTC",
        "submitted/bob/tiny/tiny.ipynb": NOTEBOOK,
        "submitted/bob/tiny/timestamp.txt": "2026-10-14 10:00:00.000000 BST",  # not UTC's name
        "submitted/cy/tiny/tiny.ipynb": NOTEBOOK,  # no timestamp.txt
        "submitted/dee/tiny/tiny.ipynb": NOTEBOOK,
        "submitted/dee/tiny/timestamp.txt": "soon",
        "submitted/eve/other_lab/other_lab.ipynb": NOTEBOOK,  # wrong assignment, no timestamp
        "source/tiny/tiny.ipynb": NOTEBOOK,  # the instructor's folders are no submissions
        "autograded/ana/tiny/tiny.ipynb": NOTEBOOK,
    })
    found = by_student(take([course], tmp_path))
    assert sorted(found) == ["ana", "bob", "cy", "dee", "eve"]
    assert found["ana"].submitted_at == datetime(2026, 10, 14, 10, tzinfo=UTC)
    assert found["ana"].time_note == "timestamp.txt"
    for student, why in [("bob", "'BST' is not the course's time zone"),
                         ("cy", "timestamp.txt is missing"), ("dee", "'soon'")]:
        assert found[student].submitted_at is None and why in found[student].time_note
    assert found["ana"].names == (("login", "ana"),)


def test_canvas_download_takes_the_latest_resubmission(tmp_path):
    download = write_zip(tmp_path / "submissions.zip", {
        "limaana_48213_7730001_tiny.ipynb": NOTEBOOK,
        "limaana_48213_7730001_tiny-1.ipynb": NOTEBOOK,
        "limaana_48213_7730001_tiny-2.ipynb": NOTEBOOK,
        "santosbruno_LATE_48214_7730002_tiny.ipynb": NOTEBOOK,
        "martinchloe_48215_7730003_my_work.ipynb": NOTEBOOK,
        "martinchloe_48215_7730003_scratch.ipynb": NOTEBOOK,  # two notebooks, neither the lab
    })
    intake = take([download], tmp_path)
    found = by_student(intake)
    assert sorted(found) == ["limaana_48213", "santosbruno_48214"]
    assert found["limaana_48213"].path.name == "limaana_48213_7730001_tiny-2.ipynb"
    assert found["limaana_48213"].names == (("lms_id", "48213"), ("name", "limaana"))
    assert found["santosbruno_48214"].submitted_at is None
    assert "LATE" in found["santosbruno_48214"].time_note
    assert any("limaana_48213" in note and "latest upload" in note for note in intake.notes)
    assert len(intake.refused) == 1 and intake.refused[0].startswith("martinchloe_48215: 2 notebooks")


def test_moodle_download_folders_and_files(tmp_path):
    download = write_zip(tmp_path / "moodle.zip", {
        "Ana Lima_301_assignsubmission_file_/tiny.ipynb": NOTEBOOK,
        "José Núñez_302_assignsubmission_file_/tiny-1.ipynb": NOTEBOOK,
        "José Núñez_302_assignsubmission_file_/tiny-2.ipynb": NOTEBOOK,
        "José Nuñes_304_assignsubmission_file_/tiny.ipynb": NOTEBOOK,
        "Bruno Santos_303_assignsubmission_file_tiny.ipynb": NOTEBOOK,
        "Bruno Santos_303_assignsubmission_onlinetext_onlinetext.html": "<p>hi</p>",
    })
    found = by_student(take([download], tmp_path))
    assert sorted(found) == ["ana-lima_301", "bruno-santos_303", "josé-nuñes_304",
                             "josé-núñez_302"]  # fmt: skip
    assert found["josé-núñez_302"].path.name == "tiny-2.ipynb"
    assert found["ana-lima_301"].names == (("participant_id", "301"), ("name", "Ana Lima"))
    assert all(sub.submitted_at is None and "Moodle" in sub.time_note for sub in found.values())


def test_flat_folder_and_single_notebooks(tmp_path):
    flat = write_files(tmp_path / "flat", {
        "ann.ipynb": NOTEBOOK, ".ipynb_checkpoints/ann-checkpoint.ipynb": NOTEBOOK,
        "__MACOSX/._ann.ipynb": "junk", "bob/work/tiny.ipynb": NOTEBOOK, "readme.txt": "hi",
    })
    single = write_files(tmp_path, {"dee.ipynb": NOTEBOOK}) / "dee.ipynb"
    nested = write_files(tmp_path, {"eve/tiny/tiny.ipynb": NOTEBOOK}) / "eve/tiny/tiny.ipynb"
    intake = take([flat, single, nested], tmp_path)
    assert sorted(by_student(intake)) == ["ann", "bob", "dee", "eve"]
    assert intake.refused == [] and intake.notes == []
    assert all(sub.submitted_at is None and sub.time_note for sub in intake.submissions)


def test_a_zipped_folder_of_submissions_is_read_from_inside(tmp_path):
    flat = write_zip(tmp_path / "inbox.zip", {"inbox/ann.ipynb": NOTEBOOK,
                                              "inbox/bob.ipynb": NOTEBOOK,
                                              "__MACOSX/inbox/._ann.ipynb": "junk"})
    folders = write_zip(tmp_path / "folders.zip", {"work/cy/tiny.ipynb": NOTEBOOK,
                                                   "work/dee/lab/tiny.ipynb": NOTEBOOK})
    one = write_zip(tmp_path / "one.zip", {"eve/tiny.ipynb": NOTEBOOK,
                                           "eve/scratch.ipynb": NOTEBOOK})
    course = write_zip(tmp_path / "course.zip", {
        "course/submitted/fay/tiny/tiny.ipynb": NOTEBOOK,
        "course/source/tiny/tiny.ipynb": NOTEBOOK, "course/release/tiny/tiny.ipynb": NOTEBOOK})
    intake = take([flat, folders, one, course], tmp_path)
    assert sorted(by_student(intake)) == ["ann", "bob", "cy", "dee", "eve", "fay"]
    assert by_student(intake)["eve"].path.name == "tiny.ipynb"


def test_an_ipynb_is_never_an_archive(tmp_path):
    """mallory.ipynb is really a zip whose Gradescope metadata names alice: it is mallory's
    (unreadable) notebook, and alice's own submission is untouched."""
    mallory = write_zip(tmp_path / "mallory.ipynb", {
        "submission_metadata.yml": "submission_1:\n  :submitters:\n  - :sid: alice\n",
        "submission_1/tiny.ipynb": NOTEBOOK,
    })
    alice = write_files(tmp_path / "inbox", {"alice.ipynb": NOTEBOOK}) / "alice.ipynb"
    found = by_student(take([mallory, alice], tmp_path))
    assert found["mallory"].path == mallory and found["alice"].path == alice


def test_student_ids_never_merge_two_names():
    names = ["ana lima", "ana_lima", "ana-lima", "josé", "josè", "jos_", "Ana Lima", "=1+1",
             "-rf", ".hidden", "a/b", "a\\b", "x" * 64, "x" * 65, "x" * 66, "😀", "", " "]
    ids = [student_id(name) for name in names]
    assert len(set(ids)) == len(set(name.strip() for name in names))  # only "" and " " meet
    for sid in ids:
        assert is_student_id(sid) or "~" in sid
        assert sid[0].isalnum() and "/" not in sid and "\\" not in sid and len(sid) <= 64
        assert student_id(sid) == sid or "~" in sid  # safe ids are their own id
    assert student_id("ana_lima") == "ana_lima" and student_id("josé") == "josé"
    assert student_id("jose\u0301") == student_id("josé")  # one name, two Unicode spellings


def test_two_inputs_for_one_student_are_refused_or_the_latest_wins(tmp_path):
    first = write_files(tmp_path / "a", {"Ana.ipynb": NOTEBOOK, "ana lima.ipynb": NOTEBOOK})
    second = write_files(tmp_path / "b", {"ana.ipynb": NOTEBOOK, "ana_lima.ipynb": NOTEBOOK})
    intake = take([first, second, second / "ana_lima.ipynb"], tmp_path)
    assert sorted(by_student(intake)) == ["ana_lima", "ana_lima~357a7e2d55"]
    assert len(intake.refused) == 1
    assert "Ana.ipynb" in intake.refused[0] and "ana.ipynb" in intake.refused[0]
    timed = [write_files(tmp_path / f"nb{day}", {
        "submitted/ana/tiny/tiny.ipynb": NOTEBOOK,
        "submitted/ana/tiny/timestamp.txt": f"2026-10-1{day} 10:00:00 UTC"}) for day in (3, 4)]
    intake = take(timed, tmp_path)
    assert by_student(intake)["ana"].submitted_at.day == 14
    assert intake.refused == [] and "the latest is graded" in intake.notes[0]


def zip_with_bad_entries(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive_file:
        archive_file.writestr("ana.ipynb", NOTEBOOK)
        archive_file.writestr("../escape.ipynb", NOTEBOOK)
        archive_file.writestr("/etc/cron.d/x.ipynb", NOTEBOOK)
        link = zipfile.ZipInfo("bob.ipynb")
        link.external_attr = 0o120777 << 16  # a symlink entry, as `zip -y` stores one
        archive_file.writestr(link, "/etc/shadow")
        archive_file.writestr("c" * 300 + ".ipynb", NOTEBOOK)
        archive_file.writestr("/".join(["d"] * 20) + "/dee.ipynb", NOTEBOOK)
        archive_file.writestr("ana.IPYNB", NOTEBOOK)
    return path


def test_bad_archive_entries_refuse_only_themselves(tmp_path):
    bad = zip_with_bad_entries(tmp_path / "bad.zip")
    intake = take([bad], tmp_path)
    assert list(by_student(intake)) == ["ana"]
    reasons = {"'../escape.ipynb': its path escapes", "'/etc/cron.d/x.ipynb': its path escapes",
               "'bob.ipynb': a link", "name too long (306 characters", "nested too deep",
               "'ana.IPYNB': appears twice"}  # fmt: skip
    assert len(intake.refused) == len(reasons)
    for reason in reasons:
        assert sum(reason in line for line in intake.refused) == 1, (reason, intake.refused)
    assert all(line.startswith(f"{bad}: entry ") for line in intake.refused)
    assert not (tmp_path / "escape.ipynb").exists()
    assert not any(path.is_symlink() for path in (tmp_path / "scratch").rglob("*"))


@pytest.mark.parametrize("limit, value, reason", [
    ("MAX_ENTRIES", 3, "entries, at most 3"),
    ("MAX_ARCHIVE_BYTES", 1000, "unpacks to"),
    ("MAX_ENTRY_BYTES", 1000, "too big"),
])
def test_archive_limits(tmp_path, monkeypatch, limit, value, reason):
    monkeypatch.setattr(archive, limit, value)
    big = write_zip(tmp_path / "big.zip", {f"s{i}.ipynb": NOTEBOOK for i in range(4)})
    flat = write_files(tmp_path / "flat", {"dee.ipynb": NOTEBOOK})
    intake = take([big, flat], tmp_path)
    assert "dee" in by_student(intake)
    assert intake.refused and all(reason in line for line in intake.refused)


def test_inputs_that_are_no_archive_refuse_themselves_and_a_missing_path_stops(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    empty = write_files(tmp_path / "empty", {"readme.md": "no notebooks"})
    good = write_files(tmp_path / "good", {"ann.ipynb": NOTEBOOK})
    intake = take([broken, notes, empty, good], tmp_path)
    assert list(by_student(intake)) == ["ann"]
    assert [line.split(": ", 1)[0] for line in intake.refused] == [str(broken), str(notes),
                                                                   str(empty)]  # fmt: skip
    assert "not a readable zip file" in intake.refused[0]
    assert "not a notebook (.ipynb), a folder or a zip file" in intake.refused[1]
    assert "no .ipynb notebooks in it" in intake.refused[2]
    with pytest.raises(IntakeError, match="refused|not a readable zip"):
        collect([broken, good], LAB, UTC, tmp_path / "scratch2")
    with pytest.raises(IntakeError, match="no such file or folder"):
        take([good, tmp_path / "typo"], tmp_path)


def test_links_in_a_folder_are_refused(tmp_path):
    inbox = write_files(tmp_path / "inbox", {"ann.ipynb": NOTEBOOK})
    (inbox / "bob.ipynb").symlink_to(inbox / "ann.ipynb")
    (inbox / "cy").symlink_to(tmp_path)
    intake = take([inbox], tmp_path)
    assert list(by_student(intake)) == ["ann"]
    assert len(intake.refused) == 2 and all("a link" in line for line in intake.refused)


ROSTER = """\
student,login,sis_id,email,name,lms_id
ana,alima,2026001,ana.lima@uni.example,"Lima, Ana",48213
bruno,bsantos,2026002,bruno@uni.example,Bruno Santos,48214
chloe,cmartin,2026003,chloe@uni.example,Chloé Martin,48215
dee,dee,2026004,dee@uni.example,Dee Park,48216
eva,eva1,2026005,eva@uni.example,Eva Rossi,48217
eva2,eva2,2026006,eva2@uni.example,Eva Rossi,48218
"""


def test_roster_maps_every_layout_to_the_course_ids(tmp_path):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text("\ufeff" + ROSTER)  # as Excel saves it
    roster = load_roster(roster_file)
    gradescope = write_zip(tmp_path / "gs.zip", gradescope_files())  # ana, bruno, chloe by SID
    canvas = write_zip(tmp_path / "canvas.zip", {"limaana_99999_1_tiny.ipynb": NOTEBOOK})
    nbgrader = write_files(tmp_path / "nbgrader", {"submitted/dee/tiny/tiny.ipynb": NOTEBOOK})
    moodle = write_zip(tmp_path / "moodle.zip", {
        "Eva Rossi_401_assignsubmission_file_/tiny.ipynb": NOTEBOOK,  # two Eva Rossis: unknown
        "Zed Unknown_402_assignsubmission_file_/tiny.ipynb": NOTEBOOK})
    intake = take([gradescope, canvas, nbgrader, moodle], tmp_path, roster)
    found = by_student(intake)
    # Canvas's limaana is named like ana ("Lima, Ana"), but the roster has Canvas user ids and
    # 99999 is not ana's: a platform's id decides alone, so it is not taken for ana.
    assert sorted(found) == ["ana", "bruno", "chloe", "dee", "eva-rossi_401", "limaana_99999",
                             "zed-unknown_402"]  # fmt: skip
    assert intake.refused == []
    assert dict(found["bruno"].roster)["login"] == "bsantos" and found["bruno"].on_roster
    assert found["zed-unknown_402"].on_roster is False
    assert intake.not_on_roster == [
        "limaana_99999 (lms_id '99999' is not on the roster)",
        "eva-rossi_401 (name 'Eva Rossi' matches eva, eva2)", "zed-unknown_402"]
    assert intake.without_submission == ["eva", "eva2"]
    lines = intake.lines()
    assert any(line.startswith("roster: 3 graded students are not on it") for line in lines)
    assert any(line.startswith("roster: 2 students on it have no submission") for line in lines)


@pytest.mark.parametrize("text, message", [
    ("login,email\nana,a@x\n", "needs a `student` column"),
    ("student\nana\nAna\n", "also on line 2"),
    ("student\nana lima\n", "is not a usable id"),
    ("student,login\n,ana\n", "empty `student`"),
    ("student\n", "no students"),
])
def test_roster_mistakes_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(RosterError, match=message) as error:
        load_roster(path)
    assert "\n" not in str(error.value)

