"""Manual points in the gradebook: submitted answers, rubrics, TA grades and overrides.

Beside the test results (`autograder.records.gradebook`), in tables of their own:

- `submitted_answers`: what each notebook (student, sha256) answered to each question, written
  when it is graded: a written answer's text and images, a code question's solution cells;
- `rubric_items`: per question, items with points (positive or negative) and text;
- `manual_grades`: one row per student and question that a TA graded: the applied rubric items
  (`applied_rubric_items`), an adjustment with a comment (written questions), or an override of
  the tests' points with a reason (code questions); with the notebook it was made for, the TA and
  the time. A written answer scores its items' points plus the adjustment, within 0 and the
  question's points, computed when read: editing an item's points re-scores every answer that
  has it.

A grade belongs to the notebook it was made for: a regrade of the same notebook keeps it; a new
notebook from the student flags it for review (it counts as pending until a TA looks again).

No lost updates: every grade and rubric item carries a version; a change names the version its
TA saw and is refused as a `GradeConflict` when another TA changed it meanwhile (an UPDATE
conditional on the version, a unique key for a first grade), so two TAs on one PostgreSQL
gradebook never overwrite each other silently.

Schema versions: `manual_schema` records the version of these tables. A gradebook made before
them (version 0) gains them when opened; a later version adds a step to `UPGRADES`; a gradebook
made by a newer kit is refused in one line.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    exc,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from autograder.core.errors import UserError
from autograder.core.safe_text import one_line
from autograder.core.written import SubmittedAnswer, normalised_answer
from autograder.records.gradebook import (
    Gradebook,
    GradebookError,
    UTCDateTime,
    _sqlite_schema_lock,
    cannot_open,
    shown_url,
)

SCHEMA_COMPONENT = "manual_grades"
SCHEMA_VERSION = 1
MANUAL_SCHEMA_LOCK = 0x6D616E75616C  # PostgreSQL advisory lock while upgrading ("manual")
MAX_COMMENT = 2000
MAX_ITEM_TEXT = 500


class GradeConflict(UserError):
    """Another TA changed what this change was based on; nothing was changed."""


class ManualBase(DeclarativeBase):
    pass


class ManualSchema(ManualBase):
    __tablename__ = "manual_schema"
    component: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class AnswerRow(ManualBase):
    __tablename__ = "submitted_answers"
    __table_args__ = (UniqueConstraint("lab", "student", "sha256", "question"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))  # written, code
    text: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))  # of the normalised answer: its group
    images: Mapped[str] = mapped_column(Text, default="{}")  # JSON {name: [mime, base64]}


class RubricItemRow(ManualBase):
    __tablename__ = "rubric_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RubricSeedRow(ManualBase):
    """A question whose rubric was seeded from the source notebook's mark scheme (once)."""

    __tablename__ = "rubric_seeds"
    __table_args__ = (UniqueConstraint("lab", "question"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)


class ManualGradeRow(ManualBase):
    __tablename__ = "manual_grades"
    __table_args__ = (UniqueConstraint("lab", "student", "question"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab: Mapped[str] = mapped_column(String(100))
    student: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))  # the notebook this grade was made for
    adjustment: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: not set
    comment: Mapped[str] = mapped_column(Text, default="")
    override_points: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    grader: Mapped[str] = mapped_column(String(100))
    graded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class AppliedItemRow(ManualBase):
    __tablename__ = "applied_rubric_items"
    grade_pk: Mapped[int] = mapped_column(ForeignKey("manual_grades.id"), primary_key=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("rubric_items.id"), primary_key=True)


# Steps from one schema version to the next, for gradebooks made by an older kit: {version the
# step leads to: step}. Version 1 is where the tables appeared: a gradebook without them (version
# 0) gets them whole from the models above, as does a new gradebook.
UPGRADES: dict[int, object] = {}


def _schema_version(connection: Connection) -> int:
    if not inspect(connection).has_table(ManualSchema.__tablename__):
        return 0
    found = connection.execute(select(ManualSchema.version).where(
        ManualSchema.component == SCHEMA_COMPONENT)).scalar()  # fmt: skip
    return int(found or 0)


def upgrade(gradebook: Gradebook) -> int:
    """Bring the gradebook's manual-grading tables to SCHEMA_VERSION; returns the version they
    had. Graders and review apps opening one gradebook at once upgrade it one after another."""
    engine = gradebook.engine
    try:
        with _sqlite_schema_lock(engine), engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MANUAL_SCHEMA_LOCK})  # fmt: skip
            found = _schema_version(connection)
            if found > SCHEMA_VERSION:
                raise GradebookError(
                    f"{shown_url(gradebook.url)}: its manual grades are in schema version "
                    f"{found}, made by a newer kit than this one (version {SCHEMA_VERSION}); "
                    "update the kit")  # fmt: skip
            if found == 0:
                ManualBase.metadata.create_all(connection)
            for version in range(max(found, 1) + 1, SCHEMA_VERSION + 1):
                UPGRADES[version](connection)  # type: ignore[operator]
            if found == 0:
                connection.execute(insert(ManualSchema).values(component=SCHEMA_COMPONENT,
                                                               version=SCHEMA_VERSION))
            elif found < SCHEMA_VERSION:
                connection.execute(update(ManualSchema).where(
                    ManualSchema.component == SCHEMA_COMPONENT).values(version=SCHEMA_VERSION))
    except exc.SQLAlchemyError as error:
        raise cannot_open(gradebook.url, error) from None
    return found


# --------------------------------------------------------------------------- what is read


@dataclass(frozen=True)
class RubricItem:
    id: int
    position: int
    points: float
    text: str
    version: int


@dataclass(frozen=True)
class Answer:
    student: str
    sha256: str
    question: str
    kind: str
    text: str
    digest: str
    images: dict[str, tuple[str, bytes]]


@dataclass(slots=True)
class Grade:
    """One TA grade as stored (the version is what a change must name)."""

    student: str
    question: str
    sha256: str
    item_ids: frozenset[int]
    adjustment: float | None
    comment: str
    override_points: float | None
    reason: str
    grader: str
    graded_at: datetime
    version: int

    @property
    def graded(self) -> bool:
        """A written answer is graded once an item is applied or an adjustment saved; a code
        question once its points are overridden."""
        return bool(self.item_ids) or self.adjustment is not None \
            or self.override_points is not None


@dataclass(frozen=True)
class Target:
    """One answer a change applies to: the student, the notebook the TA saw, and the version of
    the student's grade the TA saw (0: none)."""

    student: str
    sha256: str
    version: int


@dataclass(frozen=True)
class ManualOutcome:
    """A question's manual part, as reports and exports show it."""

    question: str
    kind: str  # written, override
    earned: float | None  # None: pending (never graded, or graded for an earlier notebook)
    possible: float
    items: tuple[tuple[float, str], ...] = ()
    adjustment: float = 0.0
    comment: str = ""
    reason: str = ""
    grader: str = ""
    graded_at: datetime | None = None
    to_review: bool = False  # graded for an earlier notebook


def written_score(item_points: Iterable[float], adjustment: float | None, possible: float) -> float:
    """A written answer's points: its items' and the adjustment, within 0 and the maximum."""
    return min(possible, max(0.0, sum(item_points) + (adjustment or 0.0)))


def answer_digest(text_: str, kind: str) -> str:
    return hashlib.sha256(normalised_answer(text_, kind).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Change:
    """What a TA does to the answers of a change's targets (exactly one kind of action)."""

    toggle_item: int | None = None  # apply the item where missing, else remove it everywhere
    adjustment: float | None = None  # with comment
    comment: str | None = None
    override_points: float | None = None  # with reason
    reason: str | None = None
    clear: bool = False  # remove the grade (a code question goes back to the tests' points)
    confirm: bool = False  # keep the grade for the current notebook (after a resubmission)
    applied: dict[str, bool] = field(default_factory=dict)  # filled in: toggled on or off


class ManualGrades:
    """The manual grades of one lab in a gradebook (upgraded to this kit's schema on open)."""

    def __init__(self, gradebook: Gradebook, lab: str):
        self.gradebook = gradebook
        self.engine = gradebook.engine
        self.lab = lab
        upgrade(gradebook)

    # ----------------------------------------------------------------- answers (grading time)

    def store_answers(self, student: str, sha256: str, answers: list[SubmittedAnswer]) -> None:
        """Keep what a graded notebook answered (once per notebook: it cannot change); written
        again, as the run is, when the database connection was lost."""
        self.gradebook.retrying(lambda: self._store_answers(student, sha256, answers))

    def _store_answers(self, student: str, sha256: str, answers: list[SubmittedAnswer]) -> None:
        with self.engine.begin() as connection:
            present = set(connection.execute(select(AnswerRow.question).where(
                AnswerRow.lab == self.lab, AnswerRow.student == student,
                AnswerRow.sha256 == sha256)).scalars())  # fmt: skip
            rows = [{"lab": self.lab, "student": student, "sha256": sha256,
                     "question": answer.question, "kind": answer.kind, "text": answer.text,
                     "digest": answer_digest(answer.text, answer.kind),
                     "images": json.dumps({name: [mime, base64.b64encode(data).decode()]
                                           for name, (mime, data) in answer.images.items()})}
                    for answer in answers if answer.question not in present]  # fmt: skip
            if rows:
                connection.execute(insert(AnswerRow), rows)

    def answer_digests(self, question: str) -> dict[tuple[str, str], str]:
        """{(student, sha256): digest} of every stored answer to `question`."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(AnswerRow.student, AnswerRow.sha256,
                                             AnswerRow.digest)
                                      .where(AnswerRow.lab == self.lab,
                                             AnswerRow.question == question))  # fmt: skip
            return {(student, sha): digest for student, sha, digest in rows}

    def answer_texts(self, question: str) -> dict[tuple[str, str], str]:
        """{(student, sha256): text} of every stored answer to `question`."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(AnswerRow.student, AnswerRow.sha256, AnswerRow.text)
                                      .where(AnswerRow.lab == self.lab,
                                             AnswerRow.question == question))  # fmt: skip
            return {(student, sha): text_ for student, sha, text_ in rows}

    def answer(self, student: str, sha256: str, question: str) -> Answer | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(AnswerRow).where(
                AnswerRow.lab == self.lab, AnswerRow.student == student,
                AnswerRow.sha256 == sha256, AnswerRow.question == question)).first()  # fmt: skip
        if row is None:
            return None
        images = {name: (mime, base64.b64decode(data))
                  for name, (mime, data) in json.loads(row.images or "{}").items()}
        return Answer(row.student, row.sha256, row.question, row.kind, row.text, row.digest,
                      images)  # fmt: skip

    # ----------------------------------------------------------------- rubrics

    def rubric(self, question: str) -> list[RubricItem]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(RubricItemRow).where(
                RubricItemRow.lab == self.lab, RubricItemRow.question == question,
                RubricItemRow.deleted.is_(False)).order_by(RubricItemRow.position,
                                                           RubricItemRow.id)).all()
            return [RubricItem(r.id, r.position, r.points, r.text, r.version) for r in rows]

    def seed_rubric(self, question: str, seeds: Iterable[tuple[float, str]], ta: str) -> bool:
        """The question's first rubric, from the source's mark scheme; once per question (a
        rubric TAs have edited is theirs). Returns whether it was seeded now."""
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(RubricSeedRow).values(lab=self.lab, question=question))
                for position, (points, label) in enumerate(seeds, start=1):
                    self._insert_item(connection, question, position, points, label, ta)
        except exc.IntegrityError:  # seeded before, or by another TA at this moment
            return False
        return True

    def _insert_item(self, connection: Connection, question: str, position: int, points: float,
                     label: str, ta: str) -> None:  # fmt: skip
        connection.execute(insert(RubricItemRow).values(
            lab=self.lab, question=question, position=position, points=float(points),
            text=one_line(label, MAX_ITEM_TEXT), deleted=False, version=1, changed_by=ta,
            changed_at=_now()))  # fmt: skip

    def add_item(self, question: str, points: float, label: str, ta: str) -> None:
        with self.engine.begin() as connection:
            last = connection.execute(select(func.max(RubricItemRow.position)).where(
                RubricItemRow.lab == self.lab, RubricItemRow.question == question)).scalar()
            self._insert_item(connection, question, (last or 0) + 1, points, label, ta)

    def uses(self, item_id: int) -> int:
        """How many answers have the item applied."""
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(AppliedItemRow).where(
                AppliedItemRow.item_pk == item_id)).scalar() or 0

    def edit_item(self, item_id: int, version: int, points: float, label: str, ta: str,
                  remove: bool = False) -> int:  # fmt: skip
        """Change (or remove) a rubric item seen at `version`; returns how many answers it
        re-scored. Refused as a GradeConflict when another TA changed the item meanwhile."""
        with self.engine.begin() as connection:
            values = {"version": RubricItemRow.version + 1, "changed_by": ta,
                      "changed_at": _now()}  # fmt: skip
            values |= {"deleted": True} if remove else \
                {"points": float(points), "text": one_line(label, MAX_ITEM_TEXT)}
            changed = connection.execute(update(RubricItemRow).where(
                RubricItemRow.id == item_id, RubricItemRow.lab == self.lab,
                RubricItemRow.version == version, RubricItemRow.deleted.is_(False))
                .values(**values)).rowcount  # fmt: skip
            if changed != 1:
                raise self._item_conflict(connection, item_id)
            rescored = connection.execute(select(func.count()).select_from(AppliedItemRow).where(
                AppliedItemRow.item_pk == item_id)).scalar() or 0
            if remove:
                connection.execute(delete(AppliedItemRow).where(AppliedItemRow.item_pk == item_id))
            return rescored

    def _item_conflict(self, connection: Connection, item_id: int) -> GradeConflict:
        row = connection.execute(select(RubricItemRow).where(
            RubricItemRow.id == item_id, RubricItemRow.lab == self.lab)).first()
        if row is None:
            return GradeConflict("that rubric item does not exist")
        what = "removed" if row.deleted else "changed"
        return GradeConflict(f"{row.changed_by} {what} this rubric item at "
                             f"{row.changed_at:%H:%M:%S} UTC while you had it open; nothing was "
                             "changed: reload to see it")  # fmt: skip

    # ----------------------------------------------------------------- grades

    def grades(self, question: str) -> dict[str, Grade]:
        """{student: grade} for the question."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(ManualGradeRow).where(
                ManualGradeRow.lab == self.lab, ManualGradeRow.question == question)).all()
            rows = list(rows)
            applied: dict[int, set[int]] = {}
            for grade_pk, item_pk in connection.execute(
                    select(AppliedItemRow.grade_pk, AppliedItemRow.item_pk)
                    .join(ManualGradeRow, ManualGradeRow.id == AppliedItemRow.grade_pk)
                    .where(ManualGradeRow.lab == self.lab,
                           ManualGradeRow.question == question)):  # fmt: skip
                applied.setdefault(grade_pk, set()).add(item_pk)
        return {row.student: self._grade(row, applied.get(row.id, set())) for row in rows}

    @staticmethod
    def _grade(row: ManualGradeRow, items: set[int]) -> Grade:
        return Grade(row.student, row.question, row.sha256, frozenset(items), row.adjustment,
                     row.comment or "", row.override_points, row.reason or "", row.grader,
                     row.graded_at, row.version)  # fmt: skip

    def change(self, question: str, targets: list[Target], change: Change, ta: str) -> int:
        """Apply `change` to every target's grade in one transaction; returns how many grades
        changed. A target whose grade is not at the version its TA saw refuses the whole
        change (GradeConflict)."""
        with self.engine.begin() as connection:
            rows = {row.student: row for row in connection.execute(select(ManualGradeRow).where(
                ManualGradeRow.lab == self.lab, ManualGradeRow.question == question,
                ManualGradeRow.student.in_([t.student for t in targets]))).all()}
            applied = {pk for pk, in connection.execute(select(AppliedItemRow.grade_pk).where(
                AppliedItemRow.grade_pk.in_([row.id for row in rows.values()]),
                AppliedItemRow.item_pk == change.toggle_item))} if change.toggle_item else set()
            for target in targets:
                row = rows.get(target.student)
                if (row.version if row else 0) != target.version:
                    raise self._grade_conflict(row)
            # Toggling over several answers applies the item where it is missing; only when
            # every answer has it does it come off.
            turn_on = change.toggle_item is not None and len(applied) < len(targets)
            for target in targets:
                self._change_one(connection, question, target, rows.get(target.student),
                                 change, turn_on, ta)  # fmt: skip
        return len(targets)

    def _grade_conflict(self, row: ManualGradeRow | None) -> GradeConflict:
        if row is None:
            return GradeConflict("this grade was removed by another TA while you had it open; "
                                 "nothing was changed: reload to see it")  # fmt: skip
        return GradeConflict(f"{row.grader} changed this grade at {row.graded_at:%H:%M:%S} UTC "
                             "while you had it open; nothing was changed: reload to see "
                             "it")  # fmt: skip

    def _change_one(self, connection: Connection, question: str, target: Target,
                    row: ManualGradeRow | None, change: Change, turn_on: bool,
                    ta: str) -> None:  # fmt: skip
        stamp = {"sha256": target.sha256, "grader": ta, "graded_at": _now()}
        if change.adjustment is not None:
            stamp |= {"adjustment": float(change.adjustment),
                      "comment": (change.comment or "")[:MAX_COMMENT]}
        if change.override_points is not None:
            stamp |= {"override_points": float(change.override_points),
                      "reason": (change.reason or "")[:MAX_COMMENT]}
        if row is None:
            if change.clear or change.confirm:
                return
            try:
                grade_pk = connection.execute(insert(ManualGradeRow).values(
                    lab=self.lab, student=target.student, question=question, version=1,
                    comment=stamp.pop("comment", ""), reason=stamp.pop("reason", ""),
                    **stamp).returning(ManualGradeRow.id)).scalar_one()  # fmt: skip
            except exc.IntegrityError:  # another TA graded it first, at this very moment
                raise GradeConflict("another TA graded this answer at the same moment; nothing "
                                    "was changed: reload to see their grade") from None
        else:
            grade_pk = row.id
            if change.clear:
                connection.execute(delete(AppliedItemRow).where(AppliedItemRow.grade_pk == row.id))
                gone = connection.execute(delete(ManualGradeRow).where(
                    ManualGradeRow.id == row.id, ManualGradeRow.version == row.version)).rowcount
                if gone != 1:
                    raise self._grade_conflict(row)
                return
            done = connection.execute(update(ManualGradeRow).where(
                ManualGradeRow.id == row.id, ManualGradeRow.version == row.version)
                .values(version=row.version + 1, **stamp)).rowcount  # fmt: skip
            if done != 1:  # changed between our read and this write
                raise self._grade_conflict(row)
        if change.toggle_item is not None:
            is_on = connection.execute(select(func.count()).select_from(AppliedItemRow).where(
                AppliedItemRow.grade_pk == grade_pk,
                AppliedItemRow.item_pk == change.toggle_item)).scalar()
            if turn_on and not is_on:
                connection.execute(insert(AppliedItemRow).values(grade_pk=grade_pk,
                                                                 item_pk=change.toggle_item))
            elif not turn_on and is_on:
                connection.execute(delete(AppliedItemRow).where(
                    AppliedItemRow.grade_pk == grade_pk,
                    AppliedItemRow.item_pk == change.toggle_item))

    # ----------------------------------------------------------------- for reports

    def outcomes(self, current: dict[str, str], written: dict[str, float],
                 tested: dict[str, float]) -> dict[str, dict[str, ManualOutcome]]:  # fmt: skip
        """{student: {question: outcome}} for the students' current notebooks (`current`:
        student -> sha256): every written question (`written`: name -> points; pending where
        not graded for the current notebook) and every override of a tested question."""
        with self.engine.connect() as connection:
            items = {row.id: row for row in connection.execute(select(RubricItemRow).where(
                RubricItemRow.lab == self.lab, RubricItemRow.deleted.is_(False))).all()}
            rows = list(connection.execute(select(ManualGradeRow).where(
                ManualGradeRow.lab == self.lab)).all())
            applied: dict[int, list[int]] = {}
            for grade_pk, item_pk in connection.execute(
                    select(AppliedItemRow.grade_pk, AppliedItemRow.item_pk)
                    .join(ManualGradeRow, ManualGradeRow.id == AppliedItemRow.grade_pk)
                    .where(ManualGradeRow.lab == self.lab)):  # fmt: skip
                applied.setdefault(grade_pk, []).append(item_pk)
        found: dict[str, dict[str, ManualOutcome]] = {student: {} for student in current}
        for student in current:
            for question, possible in written.items():
                found[student][question] = ManualOutcome(question, "written", None, possible)
        for row in rows:
            if row.student not in current:
                continue
            chosen = sorted((items[pk] for pk in applied.get(row.id, []) if pk in items),
                            key=lambda item: (item.position, item.id))  # fmt: skip
            grade = self._grade(row, {item.id for item in chosen})
            to_review = row.sha256 != current[row.student]
            common = {"comment": grade.comment, "reason": grade.reason, "grader": grade.grader,
                      "graded_at": grade.graded_at, "to_review": to_review}  # fmt: skip
            if row.question in written and grade.graded:
                possible = written[row.question]
                earned = written_score((item.points for item in chosen), grade.adjustment,
                                       possible)  # fmt: skip
                found[row.student][row.question] = ManualOutcome(
                    row.question, "written", None if to_review else earned, possible,
                    tuple((item.points, item.text) for item in chosen),
                    grade.adjustment or 0.0, **common)  # fmt: skip
            elif row.question in tested and grade.override_points is not None:
                found[row.student][row.question] = ManualOutcome(
                    row.question, "override", None if to_review else grade.override_points,
                    tested[row.question], **common)  # fmt: skip
        return found
