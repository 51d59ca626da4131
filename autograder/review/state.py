"""What the review app shows, computed from the gradebook: the lab's questions, every student's
current notebook, answer groups, grades and progress.

The current notebook of a student is the one of their latest grading run (the gradebook's
`latest_runs`, as reports count it), read again only when the grading runs changed (a new
batch); answers, rubrics and grades are read from the database on every page, so several TAs
see each other's work at once.

Answers are grouped by what makes them the same (`autograder.core.written.normalised_answer`):
a group is graded once for all its members. Groups come largest first; in anonymous mode
students are named by opaque tokens and ordered by them (a shuffle that stays put while the app
runs), otherwise by student id.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from autograder.core.config import Course
from autograder.core.notebook import read_notebook
from autograder.core.questions import question_order
from autograder.core.written import AnswerCells, WrittenQuestion
from autograder.records.gradebook import Gradebook, GradingRun
from autograder.records.manual_grades import Grade, ManualGrades, Target, written_score

SEED_TA = "(mark scheme)"
NO_ANSWER_KEPT = "not-kept"


@dataclass(frozen=True)
class ReviewQuestion:
    index: int  # its place in the lab (URLs use it)
    name: str
    kind: str  # written, code
    possible: float
    written: WrittenQuestion | None = None


@dataclass(frozen=True)
class TestLine:
    name: str
    outcome: str
    earned: float
    possible: float
    message: str


@dataclass(frozen=True)
class Current:
    """A student's current notebook: its sha256 and its tests' results per question."""

    student: str
    sha256: str
    results: dict[str, tuple[TestLine, ...]]


@dataclass
class Member:
    student: str
    token: str
    label: str  # the student id, or an anonymous label
    sha256: str
    grade: Grade | None
    results: tuple[TestLine, ...] = ()

    @property
    def status(self) -> str:
        """ungraded, graded, or review (graded for an earlier notebook)."""
        if self.grade is None or not self.grade.graded:
            return "ungraded"
        return "graded" if self.grade.sha256 == self.sha256 else "review"

    @property
    def target(self) -> Target:
        return Target(self.student, self.sha256, self.grade.version if self.grade else 0)


@dataclass
class Group:
    key: str
    digest: str
    number: int  # 1-based, in the question's order
    members: list[Member] = field(default_factory=list)

    @property
    def status(self) -> str:
        statuses = {member.status for member in self.members}
        for status in ("review", "ungraded"):
            if status in statuses:
                return status
        return "graded"

    def state(self) -> str:
        """What a change must have seen: every member and the version of their grade."""
        seen = ",".join(f"{m.student}:{m.target.version}:{m.sha256}"
                        for m in sorted(self.members, key=lambda m: m.student))  # fmt: skip
        return hashlib.sha256(seen.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Progress:
    graded: int
    review: int
    total: int


class LabReview:
    """One lab's review state over a gradebook (thread-safe: pages run in a thread pool)."""

    def __init__(self, course: Course, lab_id: str, gradebook: Gradebook,
                 token_of: Callable[[str], str], anonymous: bool = False):  # fmt: skip
        self.course = course
        self.lab = course.lab(lab_id)
        self.gradebook = gradebook
        self.manual = ManualGrades(gradebook, lab_id)
        self.anonymous = anonymous
        self.token_of = token_of
        self.cells = AnswerCells.of(read_notebook(self.lab.notebook))
        for question in self.cells.written:
            self.manual.seed_rubric(question.name, [(seed.points, seed.text)
                                                    for seed in question.rubric], SEED_TA)
        self._lock = threading.Lock()
        self._fingerprint: tuple | None = None
        self.currents: dict[str, Current] = {}
        self.tokens: dict[str, str] = {}  # student -> token
        self._digests: dict[str, dict[tuple[str, str], str]] = {}  # answers change with runs
        self.by_token: dict[str, str] = {}
        self.questions: list[ReviewQuestion] = []

    # ----------------------------------------------------------------- current notebooks

    def _runs_fingerprint(self) -> tuple:
        with self.gradebook.engine.connect() as connection:
            return tuple(connection.execute(select(func.count(GradingRun.id),
                                                   func.max(GradingRun.id))).one())

    def refresh(self) -> None:
        """Read the students' current notebooks again if grading runs were added."""
        fingerprint = self._runs_fingerprint()
        with self._lock:
            if fingerprint == self._fingerprint:
                return
            currents: dict[str, Current] = {}
            possible: dict[str, float] = {}
            for run in self.gradebook.latest_runs(self.lab.id):
                by_question: dict[str, list[TestLine]] = {}
                for result in run.results:
                    by_question.setdefault(result.question, []).append(TestLine(
                        result.name, result.outcome, result.points_earned,
                        result.points_possible, result.message))  # fmt: skip
                student = run.submission.student.student_id
                currents[student] = Current(student, run.submission.sha256,
                                            {q: tuple(lines) for q, lines in by_question.items()})
                for name, lines in by_question.items():
                    possible.setdefault(name, sum(line.possible for line in lines))
            written = {question.name: question for question in self.cells.written}
            names = question_order([*possible, *written])
            self.questions = [
                ReviewQuestion(index, name, "written", written[name].points, written[name])
                if name in written else ReviewQuestion(index, name, "code", possible[name])
                for index, name in enumerate(names, start=1)]  # fmt: skip
            self.currents = currents
            self.tokens = {student: self.token_of(student) for student in currents}
            self.by_token = {token: student for student, token in self.tokens.items()}
            self._digests = {}
            self._fingerprint = fingerprint

    def question(self, index: int) -> ReviewQuestion | None:
        self.refresh()
        return next((q for q in self.questions if q.index == index), None)

    def label(self, student: str) -> str:
        return f"student {self.tokens[student][:6]}" if self.anonymous else student

    def _order(self, student: str) -> str:
        return self.tokens[student] if self.anonymous else student

    # ----------------------------------------------------------------- groups and progress

    def groups(self, question: ReviewQuestion) -> list[Group]:
        """Every current answer to `question`, grouped (largest groups first)."""
        self.refresh()
        digests = self._digests.get(question.name)
        if digests is None:  # answers are stored before their run: they are in when it is
            digests = self._digests[question.name] = self.manual.answer_digests(question.name)
        grades = self.manual.grades(question.name)
        groups: dict[str, Group] = {}
        for student in sorted(self.currents, key=self._order):
            current = self.currents[student]
            digest = digests.get((student, current.sha256), NO_ANSWER_KEPT)
            group = groups.setdefault(digest, Group(digest[:16], digest, 0))
            group.members.append(Member(student, self.tokens[student], self.label(student),
                                        current.sha256, grades.get(student),
                                        current.results.get(question.name, ())))  # fmt: skip
        ordered = sorted(groups.values(), key=lambda g: (-len(g.members),
                                                         self._order(g.members[0].student)))
        for number, group in enumerate(ordered, start=1):
            group.number = number
        return ordered

    def progress(self, question: ReviewQuestion, groups: list[Group] | None = None) -> Progress:
        if groups is None:  # from the grades alone: no need to group the answers
            self.refresh()
            grades = self.manual.grades(question.name)
            members = [Member(student, "", "", current.sha256, grades.get(student))
                       for student, current in self.currents.items()]  # fmt: skip
        else:
            members = [member for group in groups for member in group.members]
        return Progress(sum(m.status == "graded" for m in members),
                        sum(m.status == "review" for m in members), len(members))

    def next_group(self, question: ReviewQuestion, after: str | None,
                   groups: list[Group] | None = None) -> Group | None:  # fmt: skip
        """The next group (after the one keyed `after`, wrapping round) that a TA still has to
        grade or review; for a code question, whose answers the tests graded, simply the next."""
        groups = groups if groups is not None else self.groups(question)
        start = next((i + 1 for i, g in enumerate(groups) if g.key == after), 0)
        turn = groups[start:] + groups[:start]
        if question.kind == "code":
            return next((g for g in turn if g.status == "review"), turn[0] if after else None) \
                if turn else None
        return next((g for g in turn if g.status != "graded"), None)

    def item_points(self, question: ReviewQuestion) -> dict[int, float]:
        return {item.id: item.points for item in self.manual.rubric(question.name)}

    @staticmethod
    def score(question: ReviewQuestion, member: Member, item_points: dict[int, float]) -> str:
        """A member's points as shown: "2 / 3", "ungraded", "1 / 2 (tests)"."""
        grade = member.grade
        if question.kind == "code":
            tested = sum(line.earned for line in member.results)
            if grade is not None and grade.override_points is not None:
                return (f"{grade.override_points:g} / {question.possible:g} (override; the tests "
                        f"gave {tested:g})")  # fmt: skip
            return f"{tested:g} / {question.possible:g} (tests)"
        if grade is None or not grade.graded:
            return "ungraded"
        earned = written_score((item_points[i] for i in grade.item_ids if i in item_points),
                               grade.adjustment, question.possible)  # fmt: skip
        return f"{earned:g} / {question.possible:g}"
