"""Question numbers: "2.10 Training" is question (2, 10), and questions are ordered by them.

The release checks that the numbers follow the notebook's headings, so ordering by number is
ordering as the notebook does (reports, feedback, exports).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_QUESTION_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)*)")


def question_number(name: str) -> tuple[int, ...]:
    """The number a question's name starts with, part by part; () when it has none."""
    match = _QUESTION_NUMBER.match(name)
    return tuple(int(part) for part in match[1].split(".")) if match else ()


def question_order(questions: Iterable[str]) -> list[str]:
    """Questions in notebook order: by their numbers ("1.2" < "1.10" < "2.1"); questions
    without a number after those, in the order given."""
    first_seen = list(dict.fromkeys(questions))

    def key(item: tuple[int, str]) -> tuple[int, tuple[int, ...], int]:
        position, name = item
        number = question_number(name)
        return (0 if number else 1, number, position)

    return [name for _, name in sorted(enumerate(first_seen), key=key)]
