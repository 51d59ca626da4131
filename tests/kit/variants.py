"""Grade variants of a lab's solution: the proof that hidden tests judge well.

A variant is the solution notebook with one piece of code replaced (a plausible mistake, or a
correct alternative). All variants of a lab are graded in one batch by the real engine (sandbox,
hidden tests, gradebook), and the points per question show which questions each one breaks.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cpu_load import cpu_load
from nbformat import NotebookNode

from autograder.authoring.release import build_solution_notebook
from autograder.core.config import ROOT_ENV, Course, load_course
from autograder.core.notebook import read_notebook, write_notebook
from autograder.intake import Submission
from autograder.judging.grading import default_workers, grade_batch
from autograder.records.gradebook import Gradebook


@dataclass(frozen=True)
class Variant:
    name: str
    grade_id: str  # nbgrader grade_id of the cell to edit
    old: str  # text that must occur exactly once in that cell
    new: str
    breaks: frozenset[str] = field(default_factory=frozenset)  # questions that must lose points
    edits: tuple[tuple[str, str, str], ...] = ()  # further (grade_id, old, new) edits

    def __str__(self) -> str:
        return self.name


def variant_notebook(course: Course, lab_id: str, variant: Variant) -> NotebookNode:
    nb = build_solution_notebook(read_notebook(course.lab(lab_id).notebook))
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}
    for grade_id, old, new in ((variant.grade_id, variant.old, variant.new), *variant.edits):
        cell = cells[grade_id]
        count = cell.source.count(old)
        assert count == 1, f"{variant.name}: {old!r} occurs {count} times in cell {grade_id}"
        cell.source = cell.source.replace(old, new)
    return nb


def grade_variants(lab_id: str, variants: list[Variant], folder: Path,
                   under_load: bool = False) -> dict[str, dict]:  # fmt: skip
    """Grade all variants in one batch of the real engine: {variant name: {question: (earned,
    possible)}}. Workers pay the fixed costs (imports, the reference) once for the whole batch.
    `under_load`: while a spinner per core keeps the machine busy, with the same expectations."""
    course = load_course()
    submissions = []
    for index, variant in enumerate(variants):
        path = folder / f"variant{index:02d}.ipynb"
        write_notebook(variant_notebook(course, lab_id, variant), path)
        submissions.append(Submission(f"variant{index:02d}", path, None, "variant"))
    gradebook = Gradebook(f"sqlite:///{folder / 'gradebook.sqlite'}")
    with cpu_load(per_core=1 if under_load else 0):
        # no more workers than notebooks: each pays the fixed costs (imports, the reference run)
        grade_batch(course, lab_id, submissions, gradebook, workers=min(default_workers(), len(variants)),
                    progress=False)  # fmt: skip
    scores: dict[str, dict] = {}
    for run in gradebook.latest_runs(lab_id):
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for result in run.results:
            totals[result.question][0] += result.points_earned
            totals[result.question][1] += result.points_possible
        variant = variants[int(run.submission.student.student_id.removeprefix("variant"))]
        scores[variant.name] = {question: tuple(pair) for question, pair in totals.items()}
    return scores


def assert_breaks_exactly(variant: Variant, scores: dict) -> None:
    unknown = variant.breaks - set(scores)
    assert not unknown, f"{variant.name}: no such questions {sorted(unknown)}"
    for question, (earned, possible) in scores.items():
        if question in variant.breaks:
            assert earned < possible, f"{variant.name}: keeps full marks on {question!r}"
        else:
            assert earned == possible, (
                f"{variant.name}: loses points on {question!r} ({earned:g}/{possible:g})"
            )



def variant_tests(lab_id: str, wrong: list[Variant], correct: list[Variant], least_wrong: int,
                  least_correct: int, under_load: bool = False):  # fmt: skip
    """The tests of a lab's variant module: `scores, test_variant..., test_enough_variants =
    variant_tests(...)` grades all variants once and checks each one in its own test."""
    variants = wrong + correct

    @pytest.fixture(scope="module")
    def scores(tmp_path_factory: pytest.TempPathFactory) -> dict:
        return grade_variants(lab_id, variants, tmp_path_factory.mktemp("variants"), under_load)

    @pytest.mark.parametrize("variant", variants, ids=str)
    def test_variant_loses_points_exactly_where_it_is_wrong(variant: Variant, scores: dict):
        assert_breaks_exactly(variant, scores[variant.name])

    def test_enough_variants():
        assert len(wrong) >= least_wrong and len(correct) >= least_correct

    return scores, test_variant_loses_points_exactly_where_it_is_wrong, test_enough_variants


def salted_course(root: Path, lab_id: str, salt: str, folder: Path) -> Path:
    """A copy of the course at `root` with only `lab_id`'s notebook and hidden tests and another
    seed salt, so that the hidden tests draw what another term's tests would draw."""
    config = (root / "course_config.py").read_text()
    config, count = re.subn(r'"seed_salt":\s*"[^"]*"', lambda _: f'"seed_salt": {json.dumps(salt)}', config)
    assert count == 1, "course_config.py must state its seed_salt once as a string"
    folder.mkdir(parents=True)
    (folder / "course_config.py").write_text(config)
    shutil.copytree(root / "source" / lab_id, folder / "source" / lab_id)
    for other in (root / "source").iterdir():  # the config checks that every lab's notebook exists
        if other.name != lab_id:
            (folder / "source" / other.name).symlink_to(other)
    shutil.copytree(root / "tests" / lab_id, folder / "tests" / lab_id)
    shutil.copy(root / "tests" / "conftest.py", folder / "tests" / "conftest.py")
    for name in ("courselib", "constraints.txt"):
        (folder / name).symlink_to(root / name)
    return folder


def variants_under_salts(lab_id: str, variants: list[Variant], salts: tuple[str, ...]):
    """A test that grades `variants` again under each of `salts` (one batch per salt) and checks
    the same verdicts: a hidden test must catch its mistake for every term's draw."""

    @pytest.mark.parametrize("salt", salts)
    def test_verdicts_hold_under_other_salts(salt: str, tmp_path: Path, monkeypatch):
        root = salted_course(load_course().root, lab_id, salt, tmp_path / "course")
        monkeypatch.setenv(ROOT_ENV, str(root))
        (tmp_path / "graded").mkdir()
        scores = grade_variants(lab_id, variants, tmp_path / "graded")
        failures = []
        for variant in variants:
            try:
                assert_breaks_exactly(variant, scores[variant.name])
            except AssertionError as error:
                failures.append(f"salt {salt!r}: {error}")
        assert not failures, "\n".join(failures)

    return test_verdicts_hold_under_other_salts
