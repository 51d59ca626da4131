"""What the labs say about their sources and their own numbers holds.

- Every lab has one cell saying "Where this lab departs from its source" (or "sources"), and it
  names every difference a review of the lab against its source found (DEPARTURES): a lab follows
  its source unless that cell says where and why not.
- Every CPU time the text states comes from the course config, and the config's number agrees
  with what the executed solution printed (STATED_CPU_TIMES): within a factor of two, since the
  solutions may be executed on another machine than the one that measured.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder.core.config import load_course

HEADING = re.compile(r"Where this lab departs from its sources?\b")

# lab -> words that its departures cell must contain, one per difference from its source
DEPARTURES = {
    "lab01_rnn_from_scratch": [
        "generate_counting_ones_data",  # the data generator is given
        "stacked into arrays",  # forward may return arrays
        "leaves the padded steps out of the loss",  # padding and the masked loss
        "always clips the gradients",  # train_step's clipping is not optional
        "learning rate 1.0 instead of 0.1",  # the PyTorch test run
    ],
    "lab02_onset_detection": [
        "initial rest",  # the change detector's first sample, and 1.3's answer for r = 1
        "Graded functions instead of open exercises",
        "Snapshots",  # history instead of prediction snapshots
        "Seeded batch order",
        "Distribution shift",  # the lesson's five test sets, scored on 200 sequences
        "compute_prediction_dataset(model, ds, indices, pred='probs')",  # the helpers' signatures
        "eval_peaks_dataset(pred_ds",
        "plot_peaks_stem(y_ref",
        "visualize_training_pairs(t, X, Y",
    ],
    "lab03_sequence_generation": [
        "The worked sine example is a redesign",  # not the lesson's 128 units and 10,000 steps
        "0.9695",  # the lesson's own result, named
        "Who holds the coin",  # teacher_forcing vs the lesson's p, coins per sequence
        "ANGULAR_STEP",  # 0.1 instead of 10/99
        "32 hidden units, not 128",
        "How much data do you need?",  # the assignment's question, as optional work
    ],
    "lab04_sequence_classification": [
        "a random phase per wave",
        "`noise_std`",
        "pooling over time",
        "a held-out set",
        "the **sum**",  # the multiclass Brier score
        "synthetic clips",
        "`resample_poly`",
        "`np.digitize`",
        "min-max per clip",
        "EpyNN counts label 0 as positive",
        "cross-entropy on logits",
        "CPU budget",
    ],
}

# (lab, config constant, grade_id of the cell that prints it, what the printout says)
STATED_CPU_TIMES = [
    ("lab03_sequence_generation", "reference_training_cpu_s", "graded_training", r"training: ([\d.]+) s CPU"),
    ("lab04_sequence_classification", "reference_training_cpu_s", "graded_training", r"training: ([\d.]+) s CPU"),
    ("lab04_sequence_classification", "replica_cpu_s", "demo_02", r"CPU time: ([\d.]+) s"),
    ("lab04_sequence_classification", "per_sample_gru_epoch_cpu_s", "demo_08", r"so about ([\d.]+) s per epoch"),
]


@pytest.mark.parametrize("lab_id", sorted(DEPARTURES))
def test_each_lab_says_where_it_departs_from_its_source(lab_id):
    notebook = nbformat.read(load_course().lab(lab_id).notebook, as_version=4)
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "markdown" and HEADING.search(cell.source)]
    assert len(cells) == 1, f"{lab_id}: {len(cells)} cells say 'Where this lab departs from its source'; one must"
    missing = [words for words in DEPARTURES[lab_id] if words not in " ".join(cells[0].split())]
    assert not missing, f"{lab_id}: its departures cell does not name {missing}"


def test_every_lab_has_a_departures_entry():
    assert set(DEPARTURES) == set(load_course().labs)


def _printed(course, lab_id: str, grade_id: str) -> str:
    solution = nbformat.read(course.solutions_dir(lab_id) / f"{lab_id}.ipynb", as_version=4)
    cell = next(cell for cell in solution.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


@pytest.mark.parametrize("lab_id, constant, grade_id, printout", STATED_CPU_TIMES)
def test_stated_cpu_times_agree_with_the_executed_solution(lab_id, constant, grade_id, printout):
    course = load_course()
    stated = float(course.lab(lab_id).constants[constant])
    found = re.search(printout, _printed(course, lab_id, grade_id))
    assert found, f"{lab_id}: the executed solution's cell {grade_id} does not print {printout!r}"
    measured = float(found.group(1))
    assert measured / 2 <= stated <= measured * 2, (
        f"course_config.py: {lab_id} constants.{constant} is {stated:g} s, but the executed solution "
        f"measured {measured:g} s (cell {grade_id}): measure again and update it"
    )


# A time claim: "about 5 s", "costs 20-40 s", "7 s of CPU", "1-3 s per epoch" (not "a 1 s clip")
TIME_CLAIM = re.compile(r"\b(?:about|costs?|takes?|needs?|within|in) \d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)? s\b"
                        r"|\b\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)? s (?:of CPU|CPU|per)\b")


def test_the_text_states_times_only_through_the_config():
    """A time a lab's text (or a comment of its code) claims comes from the config
    ({{constants...}}), so that the table above can hold it against the executed solution; a demo
    that takes a while prints its own CPU time instead."""
    course = load_course()
    claims = TIME_CLAIM
    found = []
    for lab_id in course.labs:
        notebook = nbformat.read(course.lab(lab_id).notebook, as_version=4)
        for index, cell in enumerate(notebook.cells):
            text = cell.source if cell.cell_type == "markdown" else "\n".join(
                line for line in cell.source.splitlines() if line.lstrip().startswith("#"))
            found += [f"{lab_id} cell {index}: {match.group(0)!r}" for match in claims.finditer(text)]
    assert not found, "\n".join(found)
