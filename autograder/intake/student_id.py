"""The one rule that turns a name found in an input into a student id.

A student id names the student in the gradebook, the reports and the feedback file names, so it
must be safe as a file name and must never merge two students. The rule:

- the text is put in Unicode normal form NFC and trimmed;
- when it is 1 to 64 characters of letters, digits and `_ - . @ +`, starting with a letter or a
  digit, it IS the id (`ana_lima`, `josé`, `s1234567`, `ana.lima@uni.edu`);
- otherwise the id is a readable part (the text with every other character replaced by `_`, at
  most 40 characters, leading punctuation dropped) followed by `~` and the first 10 hex digits
  of the text's SHA-256 (`ana lima` -> `ana_lima~357a7e2d55`).

Ids of the first kind never contain `~`, and ids of the second kind differ whenever the texts do
(short of a SHA-256 collision), so two different names never share an id. Two ids that differ
only in letter case would still share a feedback file on a case-insensitive file system; the
intake treats them as the same student (see `autograder.intake.submissions`).
"""

from __future__ import annotations

import hashlib
import unicodedata

MAX_ID_LENGTH = 64
READABLE_PART = 40
HASH_DIGITS = 10
ID_PUNCTUATION = "_-.@+"
_WORD_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"}


def _is_word_character(char: str) -> bool:
    return unicodedata.category(char) in _WORD_CATEGORIES


def is_student_id(text: str) -> bool:
    """True when `text` is an id as it stands (the first case of the rule)."""
    return (
        0 < len(text) <= MAX_ID_LENGTH
        and text == unicodedata.normalize("NFC", text)
        and _is_word_character(text[0])
        and all(_is_word_character(char) or char in ID_PUNCTUATION for char in text)
    )


def student_id(text: str) -> str:
    """The student id of a name found in an input (see the module's rule)."""
    name = unicodedata.normalize("NFC", str(text)).strip()
    if is_student_id(name):
        return name
    readable = "".join(
        char if _is_word_character(char) or char in ID_PUNCTUATION else "_" for char in name
    )[:READABLE_PART].lstrip(ID_PUNCTUATION).rstrip("_") or "student"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]
    return f"{readable}~{digest}"


def same_student_key(student: str) -> str:
    """Two ids with the same key are one student to the intake (letter case does not count)."""
    return student.casefold()
