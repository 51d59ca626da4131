"""What students read, from one source of truth: the course config and the hidden tests.

Three rules, checked or applied at release:

- Markdown may say `{{key}}`: the release writes the lab's setting in its place (`points`,
  `training_budget_s`, `cell_timeout_s`, ..., `constants.<name>` for the lab's `constants`), so
  changing course_config.py changes what students read. An unknown key refuses the release.
- Code states a config value as `NAME = <literal>  # course_config: <key>`; the release refuses a
  literal that differs from the config (code keeps real literals so the source notebook still runs
  in Jupyter as it is).
- Each question of the hidden tests has one heading `### <question> (<P> points)` in the notebook,
  with P the points of its tests; headings come in the order of the questions' numbers, which is
  the order reports and feedback use.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable

from nbformat import NotebookNode

from autograder.authoring.stubs import SourceError
from autograder.core.config import Lab
from autograder.core.questions import question_headings, question_number

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
CONFIG_CONSTANT = re.compile(
    r"^\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<literal>[^#]+?)\s*#\s*course_config:\s*(?P<key>[\w.]+)\s*$"
)
DEMO_MARK = "# Demo"
SETTINGS = ("title", "points", "training_budget_s", "cell_timeout_s", "notebook_timeout_s",
            "test_timeout_s", "memory_mb")  # fmt: skip


def lab_values(lab: Lab) -> dict[str, int | float | str]:
    """Every key a notebook may name, with the lab's value."""
    values: dict[str, int | float | str] = {
        key: getattr(lab, key) for key in SETTINGS if getattr(lab, key) is not None
    }
    values["due"] = f"{lab.due:%Y-%m-%d %H:%M} ({lab.due.tzinfo})"
    values.update({f"constants.{name}": value for name, value in lab.constants.items()})
    return values


def _shown(value: int | float | str) -> str:
    """A value as students read it: 60.0 shows as 60."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else f"{value:g}"


def fill_placeholders(nb: NotebookNode, lab: Lab) -> None:
    """Replace every `{{key}}` in markdown cells with the lab's value (in place)."""
    values = lab_values(lab)

    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        unknown = [key for key in PLACEHOLDER.findall(cell.source) if key not in values]
        if unknown:
            raise SourceError(f"cell {index}: {{{{{unknown[0]}}}}} is not a lab setting or "
                              f"constant (known: {', '.join(sorted(values))})")  # fmt: skip
        cell.source = PLACEHOLDER.sub(lambda match: _shown(values[match.group(1)]), cell.source)


def check_config_constants(nb: NotebookNode, lab: Lab) -> None:
    """Refuse code that states a config value (`# course_config: key`) with another value."""
    values = lab_values(lab)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            match = CONFIG_CONSTANT.match(line)
            if not match:
                continue
            key, name = match.group("key"), match.group("name")
            if key not in values:
                raise SourceError(f"cell {index}: {name}: course_config key {key!r} is not a lab "
                                  f"setting or constant")  # fmt: skip
            try:
                stated = ast.literal_eval(match.group("literal"))
            except (ValueError, SyntaxError):
                raise SourceError(f"cell {index}: {name} must be a literal to match course_config "
                                  f"{key}") from None  # fmt: skip
            if stated != values[key]:
                raise SourceError(f"cell {index}: {name} = {stated!r}, but course_config.py "
                                  f"{lab.config_key}.{key} is {values[key]!r}: make them "
                                  f"agree")  # fmt: skip


def check_demo_marks(nb: NotebookNode, demo_tag: str = "demo") -> None:
    """Demo cells say so in their first line, not only in a tag students may never see."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and demo_tag in cell.metadata.get("tags", []):
            first = cell.source.lstrip().splitlines()[:1]
            if not first or not first[0].startswith(DEMO_MARK):
                raise SourceError(f"cell {index}: a {demo_tag!r} cell must start with a comment "
                                  f"line '{DEMO_MARK} (not graded): ...'")  # fmt: skip


def _normal(name: str) -> str:
    return " ".join(name.replace("`", "").split()).casefold()


def check_question_headings(
    nb: NotebookNode, questions: Iterable[tuple[str, float]], tests_dir: str
) -> list[str]:
    """Match the hidden tests' (question, points) to the notebook's headings; return their order.

    Refuses a question without a heading, a heading without a question, points that differ, and
    question numbers out of notebook order.
    """
    points: dict[str, float] = defaultdict(float)
    names: dict[str, str] = {}
    for question, worth in questions:
        points[_normal(question)] += worth
        names.setdefault(_normal(question), question)
    headings = question_headings(nb)
    seen: set[str] = set()
    for heading in headings:
        key = _normal(heading.name)
        if key in seen:
            raise SourceError(f"cell {heading.cell}: {heading.name!r} has two headings")
        seen.add(key)
        if key not in points:
            raise SourceError(f"cell {heading.cell}: the heading {heading.name!r} states points, "
                              f"but no hidden test in {tests_dir} has that question")  # fmt: skip
        if abs(points[key] - heading.points) > 1e-9:
            raise SourceError(f"cell {heading.cell}: {heading.name!r} says {heading.points:g} "
                              f"points; its hidden tests in {tests_dir} are worth "
                              f"{points[key]:g}")  # fmt: skip
    missing = [names[key] for key in points if key not in seen]
    if missing:
        raise SourceError(f"{tests_dir}: question {missing[0]!r} has no heading "
                          f"'### {missing[0]} ({points[_normal(missing[0])]:g} points)' "
                          f"in the notebook")  # fmt: skip
    numbers = [question_number(heading.name) for heading in headings]
    for before, after, heading in zip(numbers, numbers[1:], headings[1:]):
        if not before or not after or after <= before:
            raise SourceError(f"cell {heading.cell}: question {heading.name!r}: number the "
                              f"questions in notebook order (1.1, 1.2, 2.1, ...)")  # fmt: skip
    return [names[_normal(heading.name)] for heading in headings]
