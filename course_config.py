"""The course: labs, dates, points, limits, tolerances and the grading policy.

This file is plain data. `autograder` validates it on load and names the field of any mistake.
Lab-level keys override the `defaults` of the same name.
"""

COURSE = {
    "name": "Recurrent Neural Networks",
    "term": "2026-autumn",
    "timezone": "Europe/London",
    # Mixed into every hidden-test seed so that students cannot reproduce the graders' inputs.
    # Change it each term; it is never released.
    "seed_salt": "rnn-kit-2026-autumn-7d1f",
    "late_policy": {
        "grace_minutes": 15,
        "penalty_per_day": 0.10,  # fraction of the lab's points per started day late
        "max_days_late": 5,  # later than this earns zero
    },
    "defaults": {
        "cell_timeout_s": 120,
        "notebook_timeout_s": 900,
        "test_timeout_s": 60,
        "memory_mb": 4096,
        "skip_tags": ["demo"],
        # Relative and absolute tolerances used by the `tol` fixture, per device and dtype.
        "tolerances": {
            "cpu": {
                "float64": {"rtol": 1e-7, "atol": 1e-10},
                "float32": {"rtol": 1e-5, "atol": 1e-6},
            },
            "cuda": {
                "float64": {"rtol": 1e-6, "atol": 1e-9},
                "float32": {"rtol": 1e-4, "atol": 1e-5},
            },
        },
    },
    "labs": [
        {
            "id": "lab01_rnn_from_scratch",
            "title": "RNN from scratch: NumPy and PyTorch",
            "notebook": "source/lab01_rnn_from_scratch/lab01_rnn_from_scratch.ipynb",
            "release": "2026-09-28T09:00",
            "due": "2026-10-12T23:59",
            "points": 50,
        },
        {
            "id": "lab02_onset_detection",
            "title": "Recursive filters and RNN onset detection",
            "notebook": "source/lab02_onset_detection/lab02_onset_detection.ipynb",
            "release": "2026-10-12T09:00",
            "due": "2026-10-26T23:59",
            "points": 50,
        },
        {
            "id": "lab03_sequence_generation",
            "title": "Sequence generation: teacher forcing and cosine waves",
            "notebook": "source/lab03_sequence_generation/lab03_sequence_generation.ipynb",
            "release": "2026-10-26T09:00",
            "due": "2026-11-09T23:59",
            "points": 50,
            # The graded training cell: 60 s of CPU time on one core (stated in the notebook;
            # the reference needs about 37 s), with room for a busy grader's wall clock.
            "training_budget_s": 60,
            "cell_timeout_s": 180,
            "notebook_timeout_s": 900,
        },
    ],
}
