"""Turn the TA's inputs (notebooks, folders, zips; Gradescope, Canvas, Moodle, nbgrader or plain
layouts) into submissions: one notebook per student, with its submission time.

`submissions` reads the layouts and keeps one notebook per student (its docstring says how);
`archive` unpacks zips safely, `lms_names` reads Canvas's and Moodle's file names, `student_id`
turns a name into an id, `roster` maps ids to the course's, `submission_time` reads times and
`notebook_choice` picks a student's notebook among several.
"""

from autograder.intake.submissions import Intake, IntakeError, Submission, collect, gather

__all__ = ["Intake", "IntakeError", "Submission", "collect", "gather"]
