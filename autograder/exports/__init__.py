"""Exports: the kit's labs and grades in the formats other course tools read.

- `gradescope`: a Gradescope autograder zip (`setup.sh`, `run_autograder`, the kit, the lab's
  hidden tests and reference), and `gradescope_run`, what `run_autograder` runs for a submission;
- `grades`: final grades as Canvas, Moodle, Gradescope or plain CSV, matched through the roster;
- `feedback_zip`: one feedback file per student, named by roster id, in one zip to upload.

Each module is one step; the CLI wires them (`autograder export ...`, `report --feedback-zip`).
"""
