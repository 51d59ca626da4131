"""Submission times (every source read with an explicit zone), the late policy, the policy for
unknown times, and per-student extensions, on a real course config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from course_files import course_config

from autograder.core.config import ConfigError, load_course
from autograder.intake.submission_time import read_time
from autograder.records.lateness import assess

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize("text, expected", [
    # nbgrader's timestamp.txt: "%Y-%m-%d %H:%M:%S.%f %Z" in the exchange's zone, or naive
    ("2026-10-14 10:00:00.000000 UTC", datetime(2026, 10, 14, 10, tzinfo=UTC)),
    ("2026-10-14 10:00:00.000000 BST", datetime(2026, 10, 14, 9, tzinfo=UTC)),
    ("2026-12-14 10:00:00.000000 GMT", datetime(2026, 12, 14, 10, tzinfo=UTC)),
    ("2026-10-14 10:00:00.123456", datetime(2026, 10, 14, 9, 0, 0, 123456, tzinfo=UTC)),
    # Gradescope's created_at as text (nanoseconds) and ISO 8601 in general
    ("2026-10-12 20:00:00.000000000 +01:00", datetime(2026, 10, 12, 19, tzinfo=UTC)),
    ("'2026-10-12T20:00:00-0400'", datetime(2026, 10, 13, 0, tzinfo=UTC)),
    ("2026-10-12T20:00Z", datetime(2026, 10, 12, 20, tzinfo=UTC)),
])
def test_times_are_read_with_their_zone(text, expected):
    moment, note = read_time(text, LONDON, "timestamp.txt")
    assert moment == expected and moment.tzinfo is not None and note == "timestamp.txt"


@pytest.mark.parametrize("text, why", [
    ("2026-12-14 10:00:00 BST", "'BST' is not the course's time zone (Europe/London)"),
    ("2026-10-14 10:00:00 EST", "'EST' is not the course's time zone"),
    ("garbage", "'garbage', which is not a time"),
    ("2026-02-30 10:00:00", "not a time"),
    ("14/10/2026 10:00", "not a time"),
    ("", "is empty"),
    ("\x1b[2J\x1b]0;pwned\x072026-10-14 10:00 XYZ\x07", "'XYZ' is not the course's time zone"),
])
def test_unreadable_times_are_unknown_with_a_reason(text, why):
    moment, note = read_time(text, LONDON, "timestamp.txt")
    assert moment is None and why in note
    assert note.isprintable()


def test_a_datetime_from_yaml_keeps_its_zone_or_takes_the_course_zone():
    aware = datetime(2026, 10, 12, 20, tzinfo=timezone(timedelta(hours=1)))
    assert read_time(aware, LONDON, "created_at") == (aware, "created_at")
    naive, _ = read_time(datetime(2026, 10, 12, 20), LONDON, "created_at")
    assert naive == datetime(2026, 10, 12, 19, tzinfo=UTC)


def course_with(tmp_path, late_policy_extra: str = "", extensions: str = ""):
    text = course_config().replace('"max_days_late": 3}',
                                   '"max_days_late": 3' + late_policy_extra + "}")
    if extensions:
        text = text.replace('"labs": [', f'"extensions": {extensions},\n            "labs": [')
    (tmp_path / "course_config.py").write_text(text)
    return tmp_path


@pytest.fixture
def course(tiny_course):
    return load_course(tiny_course)


def test_late_policy(course):  # grace 0, 10 % per started day, at most 3 days
    due = course.lab("tiny").due
    assert assess(course, "tiny", "ann", due - timedelta(hours=1)).fraction == 0.0
    assert assess(course, "tiny", "ann", due + timedelta(minutes=1)).fraction == pytest.approx(0.1)
    late = assess(course, "tiny", "ann", due + timedelta(days=1, minutes=1))
    assert late.fraction == pytest.approx(0.2) and late.minutes_late == pytest.approx(1441)
    assert assess(course, "tiny", "ann", due + timedelta(days=3, minutes=1)).fraction == 1.0


@pytest.mark.parametrize("policy, fraction, words", [
    ("", None, "withheld until a TA resolves it"),  # the default is "error"
    (', "unknown_time": "error"', None, "withheld"),
    (', "unknown_time": "on_time"', 0.0, "counted as on time"),
    (', "unknown_time": "late"', 1.0, "counted as late, no points"),
])
def test_unknown_times_follow_the_policy(tiny_course, policy, fraction, words):
    course = load_course(course_with(tiny_course, policy))
    lateness = assess(course, "tiny", "ann", None)
    assert lateness.minutes_late is None and lateness.fraction == fraction
    assert lateness.problem.startswith("submission time unknown") and words in lateness.problem


def test_extensions_move_the_due_date_or_excuse(tiny_course):
    extensions = '{"tiny": {"ann": "2026-10-15T23:59", "bob": "excused"}}'
    course = load_course(course_with(tiny_course, extensions=extensions))
    two_days_late = course.lab("tiny").due + timedelta(days=2)
    ann = assess(course, "tiny", "ann", two_days_late)
    assert ann.fraction == 0.0 and ann.due == datetime(2026, 10, 15, 23, 59, tzinfo=UTC)
    assert ann.extension.startswith("extended to 2026-10-15 23:59")
    assert assess(course, "tiny", "cy", two_days_late).fraction == pytest.approx(0.2)
    bob = assess(course, "tiny", "bob", two_days_late + timedelta(days=9))
    assert bob.fraction == 0.0 and bob.extension == "excused"
    unknown = assess(course, "tiny", "bob", None)  # a TA checked bob's time: resolved
    assert unknown.fraction == 0.0 and unknown.problem == ""


@pytest.mark.parametrize("policy, extensions, message", [
    (', "unknown_time": "maybe"', "", "late_policy.unknown_time: must be one of error, on_time"),
    (', "unknown_time": 1', "", "late_policy.unknown_time: expected str"),
    ("", '{"nolab": {"ann": "excused"}}', "extensions.nolab: unknown lab"),
    ("", '{"tiny": ["ann"]}', "extensions.tiny: expected a dict of students"),
    ("", '{"tiny": {"ann": "next week"}}', "extensions.tiny.ann: 'next week' is not an ISO date"),
    ("", '["ann"]', "extensions: expected a dict of labs"),
])
def test_policy_and_extension_mistakes_name_the_field(tiny_course, policy, extensions, message):
    with pytest.raises(ConfigError, match=message):
        load_course(course_with(tiny_course, policy, extensions))
