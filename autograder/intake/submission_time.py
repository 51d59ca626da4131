"""Read a submission time, always with an explicit time zone, or say why it is unknown.

Sources: nbgrader's `timestamp.txt` (`2026-10-14 10:00:00.000000 UTC`, or with the exchange's
zone name, `... BST`, or an older naive `2026-10-14 10:00:00.123456`), Gradescope's `created_at`
(`2026-10-12 20:00:00.000000000 +01:00`, read by YAML as a datetime or kept as text), and ISO
8601 times in general. A time reads as:

- with its offset (`+01:00`, `+0100`, `+01`, `Z`) or `UTC`/`GMT`: that moment;
- with another zone abbreviation (`BST`, `CEST`, `EDT`): the course's time zone, but only when
  that abbreviation is the course zone's own name at that moment (an abbreviation names many
  zones, so any other is unknown);
- without a zone: in the course's time zone.

Anything else (an unknown abbreviation, a date that does not exist, garbage) is an unknown time:
`None`, with a one-line reason. Never the file's modification time, which a student controls.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from autograder.core.safe_text import one_line

_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<clock>\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d+))?"
    r"\s*(?P<zone>Z|[A-Za-z]{2,5}|[+-]\d{2}(?::?\d{2})?)?"
)
_UTC_NAMES = {"Z", "UTC", "GMT", "UT"}


def _offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def read_time(value: object, tz: tzinfo, source: str) -> tuple[datetime | None, str]:
    """(moment, note): the note names the source, or says why the time is unknown."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)), source
    text = one_line(value, 200).strip().strip("'\"")
    unknown = f"{source} says {text[:60]!r}, which is not a time with a known zone"
    if not text:
        return None, f"{source} is empty"
    match = _TIME.fullmatch(text)
    if match is None:
        return None, unknown
    clock = match["clock"] if match["clock"].count(":") == 2 else match["clock"] + ":00"
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")  # nanoseconds are cut to micro
    try:
        naive = datetime.fromisoformat(f"{match['date']}T{clock}.{fraction}")
    except ValueError:
        return None, unknown
    zone = match["zone"]
    if zone is None:
        return naive.replace(tzinfo=tz), source
    if zone.upper() in _UTC_NAMES:
        return naive.replace(tzinfo=UTC), source
    if zone[0] in "+-":
        try:
            return naive.replace(tzinfo=_offset(zone)), source
        except ValueError:
            return None, unknown
    local = naive.replace(tzinfo=tz)
    if local.tzname() == zone.upper():
        return local, source
    return None, (f"{source} says {text[:60]!r}: {zone!r} is not the course's time zone "
                  f"({getattr(tz, 'key', tz)}) at that date, so the moment is unknown")
