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
            "points": 54,
        },
        {
            "id": "lab02_onset_detection",
            "title": "Recursive filters and RNN onset detection",
            "notebook": "source/lab02_onset_detection/lab02_onset_detection.ipynb",
            "release": "2026-10-12T09:00",
            "due": "2026-10-26T23:59",
            "points": 54,
            # Gradescope: run_autograder peaks at about 670 MB on the solution, too close to the
            # 768 MB default (benchmarks/gradescope_labs.py); set the assignment to 1024 MB.
            "gradescope": {"memory_mb": 1024},
            # The quality test (question 3.3) counts the CPU time of the lesson's standard
            # training run in the submission's process (the reference: about 4 s on one thread).
            # The test's own limit is larger, so that the budget, not the limit, decides.
            "training_budget_s": 60,
            "test_timeout_s": 120,
            "constants": {
                "quality_f_min": 0.85,  # validation F_mean the standard run must reach
                "standard_train_sequences": 200,  # the lesson's standard datasets (PCPT Unit 9)
                "standard_val_sequences": 100,
            },
        },
        {
            "id": "lab03_sequence_generation",
            "title": "Sequence generation: teacher forcing and cosine waves",
            "notebook": "source/lab03_sequence_generation/lab03_sequence_generation.ipynb",
            "release": "2026-10-26T09:00",
            "due": "2026-11-09T23:59",
            "points": 54,
            # Gradescope: run_autograder peaks at about 740 MB on the solution; set 1024 MB.
            "gradescope": {"memory_mb": 1024},
            # The graded training cell: 60 s of CPU time on one core, stated in the notebook and
            # checked by the quality tests (train_cpu_s); the grader stops a cell at
            # cell_timeout_s of CPU time.
            "training_budget_s": 60,
            "cell_timeout_s": 180,
            "notebook_timeout_s": 900,
            "constants": {
                # The quality scale of the graded generator: the free-running MSE on hidden
                # validation cosines, one equal share of the points per threshold met.
                "quality_mse_thresholds": "0.472, 0.404, 0.336, 0.268, 0.200",
                "zero_baseline_mse": 0.54,  # E[amp^2]/2 of an always-zero prediction
                "validation_cosines": 1000,
                "validation_length": 1000,
                "validation_warmup": 100,
                # Measured, and checked against the executed solution's printout
                # (tests/kit/test_lab_numbers.py): 13.4 s on one core
                "reference_training_cpu_s": 13,
            },
        },
        {
            "id": "lab04_sequence_classification",
            "title": "Sequence classification: noisy sines and author music",
            "notebook": "source/lab04_sequence_classification/lab04_sequence_classification.ipynb",
            "release": "2026-11-09T09:00",
            "due": "2026-11-23T23:59",
            "points": 54,
            # Gradescope: run_autograder peaks at about 1.2 GB on the solution; set 1536 MB.
            "gradescope": {"memory_mb": 1536},
            # The graded training cell: 60 s of CPU time on one core, stated in the notebook and
            # checked by the quality tests (train_cpu_s); the grader stops a cell at
            # cell_timeout_s of CPU time.
            "training_budget_s": 60,
            "cell_timeout_s": 180,
            "notebook_timeout_s": 900,
            "constants": {
                # The quality test: the graded model on hidden clips of each author (rendered
                # with the course's salted seed); 2 points per accuracy threshold met, 2 more
                # for the true author's recall and precision both at least quality_recall_min.
                "hidden_clips_per_author": 100,
                "quality_accuracy_thresholds": "0.70, 0.75, 0.80, 0.85",
                "quality_recall_min": 0.75,
                "quality_precision_min": 0.75,
                # Measured, and checked against the executed solution's printout
                # (tests/kit/test_lab_numbers.py): 19.5 s, 7.3 s and 1.2 s x 11 on one core
                "reference_training_cpu_s": 20,
                "replica_cpu_s": 7,  # the source's 1000 SGD steps, replicated
                "per_sample_gru_epoch_cpu_s": 13,  # a GRU reading one sample per step, 171 clips
                # The hidden learning test of train_classifier on random-phase sines (question
                # 2.4, stated there).
                "sine_accuracy_min": 0.95,
                "sine_brier_max": 0.10,
            },
        },
    ],
}
