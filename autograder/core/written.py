"""Written questions: answers in words, graded by course staff.

A written question is a question heading `### 3.1 Why clip gradients? (2 points)` with its
prompt, followed by ONE answer cell: a Markdown cell carrying nbgrader's "manually graded
answer" metadata (`solution: true, grade: true, points: P`, a unique `grade_id`), P equal to
the heading's points. In the source notebook the answer cell holds the model answer (between
`### BEGIN SOLUTION` and `### END SOLUTION`, or the whole cell) and the rubric, nbgrader's mark
scheme block:

    === BEGIN MARK SCHEME ===
    - +1: says that gradients grow or shrink geometrically over long sequences
    - +1: says that clipping bounds the size of an update, not its direction
    - -0.5: claims that clipping changes the loss
    === END MARK SCHEME ===

Each `- <points>: <text>` line seeds one rubric item of the review app; other lines are notes
for the graders. The release replaces the answer cell by nbgrader's stub (`YOUR ANSWER HERE`),
so neither the model answer nor the rubric reaches students; nbgrader's own release does the
same with the cell.

For the review app, a submission's answers are found by `grade_id`, as nbgrader does: the
written answer cell, and for a code question the solution code cells between its heading and
the next question heading of the source notebook.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from nbformat import NotebookNode

from autograder.core.errors import UserError
from autograder.core.notebook import grade_id_of
from autograder.core.questions import question_headings

WRITTEN_STUB = "YOUR ANSWER HERE"  # nbgrader's stub for a manually graded answer
MARK_SCHEME_BEGIN = "=== BEGIN MARK SCHEME ==="
MARK_SCHEME_END = "=== END MARK SCHEME ==="
RUBRIC_LINE = re.compile(r"^\s*[-*]\s*(?P<points>[+-]?\d+(?:\.\d+)?)\s*(?:points?|pts?)?\s*:"
                         r"\s*(?P<text>\S.*?)\s*$")  # fmt: skip
# Images a submission may show a grader: raster formats only (an SVG can carry scripts), each
# checked by its first bytes and size.
IMAGE_SIGNATURES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
                    "image/gif": (b"GIF87a", b"GIF89a")}  # fmt: skip
MAX_IMAGE_BYTES = 2 * 2**20
MAX_ANSWER_CHARS = 100_000


class WrittenQuestionError(UserError):
    """A written question that is not well formed, described in one line."""


@dataclass(frozen=True)
class RubricSeed:
    points: float
    text: str


@dataclass(frozen=True)
class WrittenQuestion:
    name: str  # the heading's name, "3.1 Why clip gradients?"
    points: float
    grade_id: str
    cell: int  # the answer cell's index
    model_answer: str = ""
    rubric: tuple[RubricSeed, ...] = ()
    marking_notes: str = ""  # the mark scheme's lines that are not rubric items


def is_written_answer(cell: NotebookNode) -> bool:
    """nbgrader's "manually graded answer": a Markdown cell with solution and grade set."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return (cell.get("cell_type") == "markdown" and isinstance(meta, dict)
            and bool(meta.get("solution")) and bool(meta.get("grade")))  # fmt: skip


def split_mark_scheme(source: str) -> tuple[str, str]:
    """(the source without its mark scheme block, the block's inner text)."""
    lines = source.split("\n")
    begin = [i for i, line in enumerate(lines) if line.strip() == MARK_SCHEME_BEGIN]
    end = [i for i, line in enumerate(lines) if line.strip() == MARK_SCHEME_END]
    if not begin and not end:
        return source, ""
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise WrittenQuestionError(f"the mark scheme needs one {MARK_SCHEME_BEGIN} line and one "
                                   f"{MARK_SCHEME_END} line after it")  # fmt: skip
    rest = lines[: begin[0]] + lines[end[0] + 1:]
    return "\n".join(rest).strip("\n"), "\n".join(lines[begin[0] + 1: end[0]])


def rubric_seeds(scheme: str) -> tuple[tuple[RubricSeed, ...], str]:
    """The mark scheme's rubric items (`- +1: text`) and its other lines (notes)."""
    items, notes = [], []
    for line in scheme.split("\n"):
        match = RUBRIC_LINE.match(line)
        if match:
            items.append(RubricSeed(float(match["points"]), match["text"]))
        elif line.strip():
            notes.append(line)
    return tuple(items), "\n".join(notes)


def _without_markers(text: str) -> str:
    return "\n".join(line for line in text.split("\n")
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def _points(meta: dict, where: str) -> float:
    points = meta.get("points")
    if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
        raise WrittenQuestionError(f"{where}: a written answer cell needs nbgrader points > 0, "
                                   f"got {points!r}")  # fmt: skip
    return float(points)


def written_questions(nb: NotebookNode) -> list[WrittenQuestion]:
    """The notebook's written questions in notebook order; refuses an answer cell without a
    question heading before it, two answer cells under one heading, and points that differ."""
    headings = question_headings(nb)
    found: list[WrittenQuestion] = []
    for index, cell in enumerate(nb.cells):
        if not is_written_answer(cell):
            continue
        where = f"cell {index}"
        inside = [heading for heading in headings if heading.cell == index]
        if inside:
            raise WrittenQuestionError(f"{where}: the question heading {inside[0].name!r} must be "
                                       "in a cell before the answer cell (students replace the "
                                       "answer cell's text)")  # fmt: skip
        before = [heading for heading in headings if heading.cell < index]
        if not before:
            raise WrittenQuestionError(f"{where}: a written answer cell needs a question heading "
                                       "'### <number> <name> (<P> points)' before it")
        heading = before[-1]
        between = [cell for cell in nb.cells[heading.cell + 1:index] if cell.cell_type == "code"
                   and (cell.get("metadata", {}).get("nbgrader") or {}).get("solution")]
        if between:
            raise WrittenQuestionError(f"{where}: the answer cell follows the solution cells of "
                                       f"question {heading.name!r}; give it its own question "
                                       "heading")  # fmt: skip
        if found and found[-1].name == heading.name:
            raise WrittenQuestionError(f"{where}: question {heading.name!r} has two written "
                                       "answer cells; give each its own heading")  # fmt: skip
        meta = cell.metadata["nbgrader"]
        points = _points(meta, where)
        if abs(points - heading.points) > 1e-9:
            raise WrittenQuestionError(f"{where}: the answer cell is worth {points:g} points but "
                                       f"its heading {heading.name!r} says "
                                       f"{heading.points:g}")  # fmt: skip
        grade_id = grade_id_of(cell)
        if not grade_id:
            raise WrittenQuestionError(f"{where}: a written answer cell needs a grade_id")
        try:
            answer, scheme = split_mark_scheme(cell.source)
        except WrittenQuestionError as error:
            raise WrittenQuestionError(f"{where}: {error}") from None
        items, notes = rubric_seeds(scheme)
        found.append(WrittenQuestion(heading.name, points, grade_id, index,
                                     _without_markers(answer).strip(), items, notes))
    return found


def written_points(nb: NotebookNode) -> float:
    return sum(question.points for question in written_questions(nb))


@dataclass(frozen=True)
class SubmittedAnswer:
    """What a submission answered to one question, as the review app shows it."""

    question: str
    kind: str  # "written" or "code"
    grade_ids: tuple[str, ...]
    text: str  # "" when the answer cell is missing or still the stub
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name -> (mime, bytes)


def normalised_answer(text: str, kind: str) -> str:
    """What makes two answers the same: for words, the text without case and whitespace
    differences; for code, the source itself."""
    if kind == "code":
        return text.strip()
    words = " ".join(text.split()).casefold()
    return "" if words == WRITTEN_STUB.casefold() else words


def image_attachments(cell: NotebookNode) -> dict[str, tuple[str, bytes]]:
    """The cell's attached raster images that are what they say they are (name -> (mime,
    bytes)); anything else (SVG, HTML, undecodable, oversized) is left out."""
    images: dict[str, tuple[str, bytes]] = {}
    attachments = cell.get("attachments")
    if not isinstance(attachments, dict):
        return images
    for name, bundle in attachments.items():
        if not isinstance(name, str) or not isinstance(bundle, dict):
            continue
        for mime, data in bundle.items():
            image = checked_image(mime, data)
            if image is not None:
                images[name] = (mime, image)
                break
    return images


def checked_image(mime: object, data: object) -> bytes | None:
    """The bytes of a base64 raster image whose first bytes match its type, else None."""
    if mime not in IMAGE_SIGNATURES:
        return None
    if isinstance(data, list):  # nbformat may keep long strings as lists of lines
        data = "".join(part for part in data if isinstance(part, str))
    if not isinstance(data, str) or len(data) > MAX_IMAGE_BYTES * 4 // 3 + 8:
        return None
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(IMAGE_SIGNATURES[mime]) else None


@dataclass(frozen=True)
class AnswerCells:
    """Where a lab's answers sit, read from its source notebook: each written question's answer
    cell, and each code question's solution cells (by grade_id)."""

    written: tuple[WrittenQuestion, ...]
    code: dict[str, tuple[str, ...]]  # question -> grade_ids

    @classmethod
    def of(cls, source: NotebookNode) -> AnswerCells:
        written = tuple(written_questions(source))
        written_names = {question.name for question in written}
        headings = question_headings(source)
        code: dict[str, tuple[str, ...]] = {}
        for heading, after in zip(headings, [*headings[1:], None]):
            if heading.name in written_names:
                continue
            end = after.cell if after else len(source.cells)
            ids = tuple(grade_id_of(cell) for cell in source.cells[heading.cell:end]
                        if cell.cell_type == "code" and grade_id_of(cell)
                        and cell.metadata["nbgrader"].get("solution"))  # fmt: skip
            if ids:
                code[heading.name] = ids
        return cls(written, code)

    def answers_in(self, submission: NotebookNode) -> list[SubmittedAnswer]:
        """The submission's answer to every question (missing cells give empty answers)."""
        by_id = {}
        for cell in submission.cells:
            grade_id = grade_id_of(cell)
            if grade_id and grade_id not in by_id:
                by_id[grade_id] = cell
        answers = []
        for question in self.written:
            cell = by_id.get(question.grade_id)
            text = cell.source if cell is not None and cell.cell_type == "markdown" else ""
            if text.strip() == WRITTEN_STUB:
                text = ""
            images = image_attachments(cell) if cell is not None and text else {}
            answers.append(SubmittedAnswer(question.name, "written", (question.grade_id,),
                                           text[:MAX_ANSWER_CHARS], images))  # fmt: skip
        for name, ids in self.code.items():
            sources = [by_id[i].source for i in ids if i in by_id and by_id[i].cell_type == "code"]
            answers.append(SubmittedAnswer(name, "code", ids,
                                           "\n\n".join(sources)[:MAX_ANSWER_CHARS]))  # fmt: skip
        return answers
