"""Grade variants of a lab's solution: the proof that hidden tests judge well.

A variant is the solution notebook with one piece of code replaced (a plausible mistake, or a
correct alternative). All variants of a lab are graded in one batch by the real engine (sandbox,
hidden tests, gradebook), and the points per question show which questions each one breaks.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
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


    @property
    def cells(self) -> set[str]:
        """The grade ids of the cells this variant edits."""
        return {self.grade_id, *(cell for cell, _, _ in self.edits)}


def skipping(variant: Variant, skip: tuple[str, str, str], loses: str) -> Variant:
    """The variant with the edit `skip` too, which stops a lab's costly graded cells (no model is
    trained): it must lose the question `loses` as well, and nothing else changes."""
    return replace(variant, breaks=variant.breaks | {loses}, edits=(*variant.edits, skip))


def without_graded_cells(variants: list[Variant], beside: set[str], skip: tuple[str, str, str],
                         loses: str) -> list[Variant]:  # fmt: skip
    """`skipping` each variant that edits only cells in `beside`, cells the graded model never
    reaches (so the graded cells would give what the solution gives); the others as they are."""
    return [skipping(variant, skip, loses) if variant.cells <= beside else variant
            for variant in variants]


def variant_notebook(course: Course, lab_id: str, variant: Variant) -> NotebookNode:
    nb = build_solution_notebook(read_notebook(course.lab(lab_id).notebook))
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}
    for grade_id, old, new in ((variant.grade_id, variant.old, variant.new), *variant.edits):
        cell = cells[grade_id]
        count = cell.source.count(old)
        assert count == 1, f"{variant.name}: {old!r} occurs {count} times in cell {grade_id}"
        cell.source = cell.source.replace(old, new)
    return nb


def grade_variants(lab_id: str, variants: list[Variant], folder: Path) -> dict[str, dict]:
    """Grade all variants in one batch of the real engine: {variant name: {question: (earned,
    possible)}}. Workers pay the fixed costs (imports, the reference) once for the whole batch."""
    course = load_course()
    submissions = []
    for index, variant in enumerate(variants):
        path = folder / f"variant{index:02d}.ipynb"
        write_notebook(variant_notebook(course, lab_id, variant), path)
        submissions.append(Submission(f"variant{index:02d}", path, None, "variant"))
    with Gradebook(f"sqlite:///{folder / 'gradebook.sqlite'}") as gradebook:
        # no more workers than notebooks: each pays the fixed costs (imports, the reference run)
        grade_batch(course, lab_id, submissions, gradebook, workers=min(default_workers(), len(variants)),
                    progress=False)  # fmt: skip
        runs = gradebook.latest_runs(lab_id)
    scores: dict[str, dict] = {}
    for run in runs:
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for result in run.results:
            totals[result.question][0] += result.points_earned
            totals[result.question][1] += result.points_possible
        variant = variants[int(run.submission.student.student_id.removeprefix("variant"))]
        scores[variant.name] = {question: tuple(pair) for question, pair in totals.items()}
    return scores


# ------------------------------------------------------------ one lab's batch as another's load
#
# A lab proven under load can have another lab's variant batch as that load: real grading in a
# process of its own (two workers, as busy as a spinner per core), which then finishes in the time
# the spinners would have wasted. The loading batch keeps a spinner per core running once it has
# finished, until the loaded batch is done, so the load lasts as long as the loaded batch.

VARIANTS_OF: dict[str, list[Variant]] = {}  # lab id -> its variants, as its test module gave them
STARTED: set[str] = set()  # test modules whose batch has begun (here or in a background process)
LOADING: dict[str, BackgroundBatch] = {}  # test module -> its batch, graded in the background


class BackgroundBatch:
    """`python variants.py <test module> <lab> <folder>`: that module's variants graded in a
    process of its own; its scores read back once it is done."""

    def __init__(self, module: str, lab_id: str, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.log = folder, folder / "background.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__)), module, lab_id, str(folder)],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip

    def release(self) -> None:
        """The loaded batch is done: the spinners that keep the load once this batch has
        finished may stop."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()

    def scores(self) -> dict[str, dict]:
        self.release()
        if self.process.wait() != 0:
            raise AssertionError(f"the background batch failed:\n{self.log.read_text()[-3000:]}")
        return json.loads((self.folder / "scores.json").read_text())  # pairs as lists

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def load_for(request: pytest.FixtureRequest, module: str | None, folder: Path) -> Iterator[None]:
    """A busy machine while the block runs: the batch of the test module `module` graded beside
    it, when that module's tests are in this session and not begun; a spinner per core otherwise."""
    in_session = any(getattr(item, "module", None) is not None and item.module.__name__ == module
                     for item in request.session.items)  # fmt: skip
    if module is None or not in_session or module in STARTED:
        with cpu_load(per_core=1):
            yield
        return
    imported = importlib.import_module(module)
    batch = BackgroundBatch(module, imported.LAB, folder)
    STARTED.add(module)
    LOADING[module] = batch
    request.config.add_cleanup(batch.stop)  # a session that ends early leaves no grader behind
    try:
        yield
    finally:
        batch.release()


def _grade_in_background(module: str, lab_id: str, folder: Path) -> None:
    """The background process: grade `module`'s variants, save their scores, then keep a spinner
    per core until the loaded batch is done (stdin closed)."""
    importlib.import_module(module)  # its variant_tests(...) names the variants
    scores = grade_variants(lab_id, VARIANTS_OF[lab_id], folder)
    (folder / "scores.json").write_text(json.dumps(scores))
    with cpu_load(per_core=1):
        sys.stdin.read()


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
                  least_correct: int, under_load: bool = False, load: str | None = None):  # fmt: skip
    """The tests of a lab's variant module: `scores, test_variant..., test_enough_variants =
    variant_tests(...)` grades all variants once and checks each one in its own test.
    `under_load`: graded while the machine is busy, with the variant batch of the test module
    `load` beside it where that module runs in this session (a spinner per core otherwise)."""
    variants = wrong + correct
    VARIANTS_OF[lab_id] = variants

    @pytest.fixture(scope="module")
    def scores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
        module = request.module.__name__
        if module in LOADING:  # graded in the background as another lab's load
            return LOADING.pop(module).scores()
        STARTED.add(module)
        folder = tmp_path_factory.mktemp("variants")
        busy = load_for(request, load, tmp_path_factory.mktemp("load")) if under_load \
            else contextlib.nullcontext()  # fmt: skip
        with busy:
            return grade_variants(lab_id, variants, folder)

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


if __name__ == "__main__":  # a background batch (BackgroundBatch): the module the tests import
    import variants

    variants._grade_in_background(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
