"""How late a submission is, and what share of the lab's points that costs.

The course's `late_policy` applies to the student's due date: the lab's, or the one an
`extensions` entry gives the student (`"excused"` waives the penalty altogether). Within
`grace_minutes` of it there is no penalty; after, `penalty_per_day` per started day, and all the
points past `max_days_late` days.

A submission whose time is unknown (a layout without times, an unreadable `timestamp.txt`)
counts as `late_policy.unknown_time` says:

- `"error"` (the default): its final grade is withheld (no penalty, no final) and every report
  flags it, until a TA resolves it: an `extensions` entry (`"excused"`, when the TA has checked
  it was on time), or another `unknown_time`;
- `"on_time"`: no penalty;
- `"late"`: past `max_days_late`, so no points (removing a timestamp never pays).

Reports compute this afresh from the stored time, so a new extension needs no regrading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from autograder.core.config import EXCUSED, Course


@dataclass(frozen=True)
class Lateness:
    due: datetime  # the student's due date (an extension's, if any)
    minutes_late: float | None  # None: the submission time is unknown
    fraction: float | None  # share of the lab's points taken off; None: withheld for a TA
    problem: str = ""  # one line for reports when the time is unknown
    extension: str = ""  # "extended to ...", "excused" or ""


def assess(course: Course, lab_id: str, student: str, submitted_at: datetime | None) -> Lateness:
    lab = course.lab(lab_id)
    policy = course.late_policy
    extension = course.extensions.get(lab_id, {}).get(student)
    due = extension if isinstance(extension, datetime) else lab.due
    granted = (EXCUSED if extension == EXCUSED
               else f"extended to {due:%Y-%m-%d %H:%M %Z}" if extension else "")  # fmt: skip
    if submitted_at is None:
        if extension == EXCUSED:
            return Lateness(due, None, 0.0, "", granted)
        problem = {
            "on_time": "submission time unknown: counted as on time (late_policy.unknown_time)",
            "late": "submission time unknown: counted as late, no points "
                    "(late_policy.unknown_time)",
            "error": "submission time unknown: final grade withheld until a TA resolves it "
                     "(an `extensions` entry, or late_policy.unknown_time)",
        }[policy.unknown_time]  # fmt: skip
        fraction = {"on_time": 0.0, "late": 1.0, "error": None}[policy.unknown_time]
        return Lateness(due, None, fraction, problem, granted)
    minutes = (submitted_at - due).total_seconds() / 60
    if extension == EXCUSED or minutes <= policy.grace_minutes:
        return Lateness(due, max(minutes, 0.0), 0.0, "", granted)
    days = math.ceil(minutes / 1440)
    fraction = 1.0 if days > policy.max_days_late else min(1.0, days * policy.penalty_per_day)
    return Lateness(due, minutes, fraction, "", granted)
