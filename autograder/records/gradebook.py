"""The gradebook: students, submissions, grading runs and test results (SQLite by default).

A grading run is written in ONE transaction together with all its test results and is marked
complete there; a grader killed mid-batch therefore leaves only whole runs behind, and a batch
run again skips what is already graded (same student, notebook sha256, tests digest and device)
unless forced. A gradebook made by an older version gains the columns it lacks when opened.
`Gradebook.existing` opens only a gradebook that is there (reports never create one). One test
result row is the record of DESIGN.md contract 3: joined with its run
and submission it holds student, lab, notebook sha256, test id, question, points earned and
possible, outcome, message, duration, device, grader version and run id.

On a server (`--db postgresql://user@host/db`, through psycopg) several graders may write at
once, for example two TAs grading different labs into one database: the tables are created under
an advisory lock, and a run whose student or submission row another grader inserted at the same
moment is written again once (its transaction had failed whole, so nothing is half-written).

A database that restarts or drops the connection mid-batch is reconnected: a pooled connection
is tested before use, and a write that fails on a lost connection is written again (its
transaction failed whole) for about half a minute before `GradebookUnavailable` says so in one
line. A grader fault (`record_fault`) is a run without results and with the fault's reason: it is
never a grade (`latest_runs` leaves it out, `faults` lists it) and never counts as graded
(`complete_run`), so the next plain run of the same command grades that notebook again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    exc,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from autograder.core.config import Course
from autograder.core.errors import UserError
from autograder.core.safe_text import one_line

MAX_STORED_MESSAGE = 2000  # characters of one test message or notebook note

GRADER_VERSION = "0.1.0"
DEFAULT_DB = "gradebook.sqlite"
ROSTER_COLUMNS = ("login", "sis_id", "email", "name", "lms_id")


SCHEMA_LOCK = 0x6772616465  # PostgreSQL advisory lock held while creating the tables ("grade")


@contextlib.contextmanager
def _sqlite_schema_lock(engine: Any) -> Iterator[None]:
    """SQLite's stand-in for PostgreSQL's advisory lock: graders that open one gradebook file at
    once create its tables one after the other (an flock on a file beside it), or the second
    finds a table the first made after it had looked."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.schema-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class GradebookError(UserError):
    """A gradebook that cannot be used, described in one line."""


class GradebookUnavailable(GradebookError):
    """The database stopped answering and did not come back while writes were retried."""


# Pauses between writes of one run when the database connection is lost (about 30 s in all:
# a server that restarts comes back within them).
RETRY_PAUSES_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def shown_url(url: str) -> str:
    """`url` as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # sqlalchemy raises ArgumentError for text that is no URL
        return url


def cannot_open(url: str, error: BaseException) -> GradebookError:
    """The one line for a database that does not answer (not there, refused, wrong password)."""
    reason = getattr(error, "orig", None) or error
    return GradebookError(f"{shown_url(url)}: cannot be opened ({one_line(reason, 200)})")


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator):
    """A moment, stored in UTC and read back with its zone: SQLite keeps no zone, so a time
    stored as it comes (`20:00 +01:00`) would read back an hour off."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a time without a zone cannot be stored: {value}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Student(Base):
    __tablename__ = "students"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(100), unique=True)
    # The student's ids on the course roster (`--roster`); on_roster is None when graded without.
    login: Mapped[str | None] = mapped_column(Text, nullable=True)
    sis_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    email: Mapped[str | None] = mapped_column(Text, nullable=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    lms_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    on_roster: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    def roster_ids(self) -> dict[str, str]:
        return {column: getattr(self, column) or "" for column in ROSTER_COLUMNS}


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("student_pk", "lab", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_pk: Mapped[int] = mapped_column(ForeignKey("students.id"))
    lab: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    time_note: Mapped[str | None] = mapped_column(Text, nullable=True)  # source, or why unknown
    # As assessed when graded; reports assess again under the course's current policy.
    minutes_late: Mapped[float] = mapped_column(Float, default=0.0)
    late_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    student: Mapped[Student] = relationship()


class GradingRun(Base):
    __tablename__ = "grading_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), unique=True)
    submission_pk: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    tests_digest: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(20))
    grader_version: Mapped[str] = mapped_column(String(20))
    sandbox: Mapped[str] = mapped_column(String(20))
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    wall_s: Mapped[float] = mapped_column(Float, default=0.0)
    student_s: Mapped[float] = mapped_column(Float, default=0.0)
    notebook_notes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of lines
    # Set for a grader fault: why the notebook could not be graded. Such a run has no results
    # and is no grade; the next run of the same command grades the notebook again.
    fault: Mapped[str | None] = mapped_column(Text, nullable=True)
    submission: Mapped[SubmissionRow] = relationship()
    results: Mapped[list[TestResult]] = relationship(back_populates="run", order_by="TestResult.id")


class TestResult(Base):
    __tablename__ = "test_results"
    __test__ = False
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("grading_runs.id"))
    test_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    question: Mapped[str] = mapped_column(Text)
    points_possible: Mapped[float] = mapped_column(Float)
    points_earned: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    duration: Mapped[float] = mapped_column(Float)
    run: Mapped[GradingRun] = relationship(back_populates="results")


def tests_digest(course: Course, lab_id: str) -> str:
    """sha256 over the lab's hidden test files and its source notebook."""
    digest = hashlib.sha256()
    files = sorted(p for p in course.tests_dir(lab_id).rglob("*") if p.is_file()
                   and "__pycache__" not in p.parts)  # fmt: skip
    for path in [*files, course.lab(lab_id).notebook]:
        digest.update(str(path.relative_to(course.root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def default_url(course: Course) -> str:
    return f"sqlite:///{course.root / DEFAULT_DB}"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class GradedRun:
    """One graded submission as `record` writes it (texts are made one safe line there)."""

    student: str
    lab: str
    sha256: str
    filename: str
    submitted_at: datetime | None
    minutes_late: float
    late_fraction: float
    tests_digest: str
    device: str
    sandbox: str
    wall_s: float
    student_s: float
    notebook_notes: list[str]
    records: list[dict]  # nodeid, name, question, points, earned, outcome, message, duration
    time_note: str = ""
    roster: dict[str, str] = field(default_factory=dict)  # roster column -> id
    on_roster: bool | None = None  # None: graded without a roster


class Gradebook:
    def __init__(self, url: str):
        self.url = url
        try:
            # a pooled connection is tested before use: a server that restarted is reconnected
            self.engine = create_engine(url, pool_pre_ping=True)
        except Exception as error:  # no URL, an unknown dialect, a driver not installed
            raise GradebookError(f"--db {shown_url(url)}: not a usable database URL "
                                 f"({one_line(error, 200)})") from None  # fmt: skip
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(connection, _record):  # noqa: ANN001
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

        try:
            with _sqlite_schema_lock(self.engine), self.engine.begin() as connection:
                if self.engine.dialect.name == "postgresql":  # graders starting at once
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                       {"key": SCHEMA_LOCK})  # fmt: skip
                Base.metadata.create_all(connection)
                self._add_missing_columns(connection)
        except exc.SQLAlchemyError as error:
            raise cannot_open(url, error) from None

    def close(self) -> None:
        """Close every pooled connection. SQLite then folds its write-ahead log into the
        gradebook file, so the file alone (copied, backed up, mailed) holds every grade."""
        self.engine.dispose()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @staticmethod
    def _add_missing_columns(connection: Connection) -> None:
        """Columns added since a gradebook was made (all nullable): added, empty."""
        tables = inspect(connection)
        for table in Base.metadata.sorted_tables:
            present = {column["name"] for column in tables.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=connection.dialect)
                    connection.execute(text(
                        f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))

    @classmethod
    def for_course(cls, course: Course, url: str | None = None) -> Gradebook:
        return cls(url or default_url(course))

    @classmethod
    def existing(cls, course: Course, url: str | None = None) -> Gradebook:
        """The gradebook at `url` (default: the course's), refusing one that is not there."""
        url = url or default_url(course)
        try:
            parsed = make_url(url)
        except Exception:  # sqlalchemy raises ArgumentError for text that is no URL
            raise GradebookError(f"--db {url}: not a database URL (sqlite:///path, "
                                 "postgresql://user@host/db)") from None  # fmt: skip
        if parsed.get_backend_name() == "sqlite":
            path = Path(parsed.database or "")
            if not parsed.database or parsed.database == ":memory:" or not path.is_file():
                raise GradebookError(f"{url}: no gradebook there (grade first, or check --db)")
        try:
            engine = create_engine(url)
            with engine.connect():
                found = inspect(engine).has_table(GradingRun.__tablename__)
            engine.dispose()
        except Exception as error:  # any driver's connection error
            raise cannot_open(url, error) from None
        if not found:
            raise GradebookError(f"{shown_url(url)}: not a gradebook (no grading runs table)")
        return cls(url)

    def complete_run(self, student: str, lab: str, sha256: str, digest: str, device: str) -> bool:
        """Whether this notebook has a grade under these tests (a grader fault is none)."""

        def look() -> bool:
            with Session(self.engine) as session:
                query = (
                    select(GradingRun.id).join(SubmissionRow).join(Student)
                    .where(Student.student_id == student, SubmissionRow.lab == lab,
                           SubmissionRow.sha256 == sha256, GradingRun.tests_digest == digest,
                           GradingRun.device == device, GradingRun.complete.is_(True),
                           GradingRun.fault.is_(None))
                )  # fmt: skip
                return session.execute(query.limit(1)).first() is not None

        return self.retrying(look)

    def record(self, graded: GradedRun) -> str:
        """Write the run and its results in one transaction; returns the run id."""
        return self.retrying(lambda: self._write(graded))

    def record_fault(self, graded: GradedRun, reason: str) -> str:
        """Write a grader fault for this notebook: a run without results, which is no grade."""
        run = GradedRun(**{**graded.__dict__, "records": [], "notebook_notes": []})
        return self.retrying(lambda: self._write(run, fault=reason))

    def retrying(self, action: Callable[[], Any]) -> Any:
        """`action()`, done again when another grader inserted the same student or submission
        at the same moment (once), or when the connection to the database was lost (for about
        half a minute, reconnecting; then GradebookUnavailable)."""
        integrity_retried = False
        for pause in (*RETRY_PAUSES_S, None):
            try:
                return action()
            except exc.IntegrityError:
                if integrity_retried:
                    raise
                integrity_retried = True
            except (exc.OperationalError, exc.InterfaceError) as error:
                if pause is None:
                    raise GradebookUnavailable(
                        f"{shown_url(self.url)}: the gradebook stopped answering "
                        f"({one_line(getattr(error, 'orig', None) or error, 200)})") from None
                self.engine.dispose()  # every pooled connection may be stale: start afresh
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _write(self, graded: GradedRun, fault: str | None = None) -> str:
        run_id = str(uuid.uuid4())
        with Session(self.engine) as session, session.begin():
            student = session.scalars(
                select(Student).where(Student.student_id == graded.student)
            ).first()
            if student is None:
                student = Student(student_id=graded.student)
                session.add(student)
            if graded.on_roster is not None:  # graded without a roster: what is known stays
                student.on_roster = graded.on_roster
                for column in ROSTER_COLUMNS:
                    setattr(student, column, graded.roster.get(column) or None)
            session.flush()
            submission = session.scalars(
                select(SubmissionRow).where(SubmissionRow.student_pk == student.id,
                                            SubmissionRow.lab == graded.lab,
                                            SubmissionRow.sha256 == graded.sha256)
            ).first()  # fmt: skip
            if submission is None:
                submission = SubmissionRow(student_pk=student.id, lab=graded.lab,
                                           sha256=graded.sha256,
                                           filename=one_line(graded.filename, 1000))
                session.add(submission)  # fmt: skip
            submission.submitted_at = graded.submitted_at
            submission.time_note = one_line(graded.time_note, MAX_STORED_MESSAGE)
            submission.minutes_late = graded.minutes_late
            submission.late_fraction = graded.late_fraction
            session.flush()
            run = GradingRun(
                run_id=run_id, submission_pk=submission.id, tests_digest=graded.tests_digest,
                device=graded.device, grader_version=GRADER_VERSION, sandbox=graded.sandbox,
                finished_at=datetime.now(UTC), complete=True, wall_s=graded.wall_s,
                student_s=graded.student_s,
                notebook_notes=json.dumps([one_line(note, MAX_STORED_MESSAGE)
                                           for note in graded.notebook_notes]),
                fault=one_line(fault, MAX_STORED_MESSAGE) if fault is not None else None,
            )  # fmt: skip
            session.add(run)
            session.flush()
            for record in graded.records:
                session.add(TestResult(
                    run_pk=run.id, test_id=record["nodeid"], name=record["name"],
                    question=record["question"], points_possible=float(record["points"]),
                    points_earned=float(record["earned"]), outcome=record["outcome"],
                    message=one_line(record["message"], MAX_STORED_MESSAGE),
                    duration=float(record["duration"]),
                ))  # fmt: skip
        return run_id

    def _newest_runs(self, lab: str) -> dict[str, GradingRun]:
        """Per student, the most recent run for `lab`, grade or fault (results loaded)."""
        session = Session(self.engine, expire_on_commit=False)
        runs = session.scalars(
            select(GradingRun).join(SubmissionRow).where(SubmissionRow.lab == lab,
                                                         GradingRun.complete.is_(True))
            .order_by(GradingRun.finished_at, GradingRun.id)
        ).all()  # fmt: skip
        newest: dict[str, GradingRun] = {}
        graded: dict[str, GradingRun] = {}
        for run in runs:
            student = run.submission.student.student_id
            newest[student] = run
            if run.fault is None:
                graded[student] = run
            _ = run.results
        for student, run in newest.items():
            earlier = graded.get(student)
            if run.fault is not None and earlier is not None and \
                    earlier.submission_pk == run.submission_pk:
                newest[student] = earlier  # a fault when graded again: its grade stands
        return newest

    def latest_runs(self, lab: str) -> list[GradingRun]:
        """The most recent run of each student for `lab`, for those whose most recent run is a
        grade (results loaded); students whose most recent run is a grader fault are in
        `faults` instead."""
        newest = self._newest_runs(lab)
        return [newest[key] for key in sorted(newest) if newest[key].fault is None]

    def faults(self, lab: str) -> list[GradingRun]:
        """Students whose most recent run for `lab` is a grader fault: not graded yet."""
        newest = self._newest_runs(lab)
        return [newest[key] for key in sorted(newest) if newest[key].fault is not None]
